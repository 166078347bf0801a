// SparklineWidget: painting and hit-testing.
#include "ui/sparkline_widget.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QToolTip>
#include <algorithm>
#include <cmath>

namespace gb::ui {

SparklineWidget::SparklineWidget(QWidget* parent) : QWidget(parent), threshold_(std::nan("")) {
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    setFocusPolicy(Qt::ClickFocus);
}

void SparklineWidget::set_series(std::vector<double> values, std::vector<double> probs) {
    values_ = std::move(values);
    probs_ = std::move(probs);
    update();
}
void SparklineWidget::set_threshold(double y) {
    threshold_ = y;
    update();
}
void SparklineWidget::set_marks(std::vector<int> xs) {
    marks_ = std::move(xs);
    update();
}
void SparklineWidget::set_rules(std::vector<int> xs) {
    rules_ = std::move(xs);
    update();
}
void SparklineWidget::set_band(int first, int last) {
    band_first_ = first;
    band_last_ = last;
    update();
}
void SparklineWidget::set_split(int x) {
    split_ = x;
    update();
}
void SparklineWidget::set_selected(int x) {
    selected_ = x;
    update();
}

QRectF SparklineWidget::plot_rect() const {
    const QFontMetricsF fm(font());
    // Room for the left axis labels (nats) and the right one (probability).
    return QRectF(rect()).adjusted(fm.horizontalAdvance("0.00") + 8, fm.height() * 0.6,
                                   -(fm.horizontalAdvance("100%") + 8), -fm.height() * 0.6);
}

double SparklineWidget::x_of(int i) const {
    const QRectF r = plot_rect();
    const int n = std::max(1, count());
    return r.left() + (i + 0.5) * r.width() / n;
}

double SparklineWidget::y_of(double v, double max, const QRectF& r) const {
    return r.bottom() - std::clamp(v / max, 0.0, 1.0) * r.height();
}

int SparklineWidget::point_at(double x) const {
    if (values_.empty()) return -1;
    const QRectF r = plot_rect();
    const int i = static_cast<int>(std::floor((x - r.left()) * count() / r.width()));
    return std::clamp(i, 0, count() - 1);
}

void SparklineWidget::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    p.fillRect(rect(), palette().base());
    const QRectF r = plot_rect();
    const QColor text = palette().text().color();
    QColor faint = text;
    faint.setAlphaF(0.35);
    if (values_.empty()) {
        p.setPen(faint);
        p.drawText(rect(), Qt::AlignCenter, tr("No tokens"));
        return;
    }
    double max = 0;
    for (double v : values_)
        if (std::isfinite(v)) max = std::max(max, v);
    if (std::isfinite(threshold_)) max = std::max(max, threshold_);
    if (max <= 0) max = 1;
    const double step = r.width() / count();

    // Regions: the second (the answer) on a tinted background.
    if (split_ >= 0 && split_ < count()) {
        QColor tint = palette().highlight().color();
        tint.setAlphaF(0.07);
        p.fillRect(QRectF(r.left() + split_ * step, r.top(), r.right() - (r.left() + split_ * step),
                          r.height()),
                   tint);
    }
    // The least confident window.
    if (band_first_ >= 0 && band_last_ >= band_first_) {
        QColor band(230, 120, 40);
        band.setAlphaF(0.16);
        p.fillRect(QRectF(r.left() + band_first_ * step, r.top(),
                          (band_last_ - band_first_ + 1) * step, r.height()),
                   band);
    }
    // Step starts.
    p.setPen(QPen(faint, 1, Qt::DotLine));
    for (int x : rules_) {
        const double px = r.left() + x * step;
        p.drawLine(QPointF(px, r.top()), QPointF(px, r.bottom()));
    }
    // Axes labels: entropy on the left, probability on the right.
    p.setPen(faint);
    const QFontMetricsF fm(font());
    p.drawText(QRectF(0, r.top() - fm.height() / 2, r.left() - 4, fm.height()),
               Qt::AlignRight | Qt::AlignVCenter, QString::number(max, 'f', 2));
    p.drawText(QRectF(0, r.bottom() - fm.height() / 2, r.left() - 4, fm.height()),
               Qt::AlignRight | Qt::AlignVCenter, QStringLiteral("0"));
    if (!probs_.empty()) {
        p.drawText(QRectF(r.right() + 4, r.top() - fm.height() / 2, 100, fm.height()),
                   Qt::AlignLeft | Qt::AlignVCenter, QStringLiteral("100%"));
        p.drawText(QRectF(r.right() + 4, r.bottom() - fm.height() / 2, 100, fm.height()),
                   Qt::AlignLeft | Qt::AlignVCenter, QStringLiteral("0%"));
    }
    // The probability series, thin, behind.
    auto polyline = [&](const std::vector<double>& v, double top) {
        QPainterPath path;
        bool pen_down = false;
        for (int i = 0; i < static_cast<int>(v.size()); ++i) {
            if (!std::isfinite(v[static_cast<size_t>(i)])) {
                pen_down = false;
                continue;
            }
            const QPointF pt(x_of(i), y_of(v[static_cast<size_t>(i)], top, r));
            if (pen_down)
                path.lineTo(pt);
            else
                path.moveTo(pt);
            pen_down = true;
        }
        return path;
    };
    if (!probs_.empty()) {
        QColor pc(60, 150, 90);
        pc.setAlphaF(0.7);
        p.setPen(QPen(pc, 1));
        p.drawPath(polyline(probs_, 1.0));
    }
    // Entropy, bold.
    const QColor ec(50, 100, 200);
    p.setPen(QPen(ec, 1.5));
    p.drawPath(polyline(values_, max));
    // The threshold.
    if (std::isfinite(threshold_)) {
        p.setPen(QPen(QColor(200, 60, 60), 1, Qt::DashLine));
        const double y = y_of(threshold_, max, r);
        p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y));
    }
    // Marks (fork tokens).
    p.setPen(Qt::NoPen);
    p.setBrush(QColor(200, 60, 60));
    const double dot = std::clamp(step * 0.6, 2.0, 4.0);
    for (int x : marks_) {
        if (x < 0 || x >= count() || !std::isfinite(values_[static_cast<size_t>(x)])) continue;
        p.drawEllipse(QPointF(x_of(x), y_of(values_[static_cast<size_t>(x)], max, r)), dot, dot);
    }
    if (selected_ >= 0 && selected_ < count()) {
        p.setPen(QPen(palette().highlight().color(), 2));
        p.setBrush(Qt::NoBrush);
        const double px = x_of(selected_);
        p.drawLine(QPointF(px, r.top()), QPointF(px, r.bottom()));
    }
    p.setPen(faint);
    p.setBrush(Qt::NoBrush);
    p.drawRect(r);
}

void SparklineWidget::mousePressEvent(QMouseEvent* e) {
    const int i = point_at(e->position().x());
    if (i < 0) return;
    // Prefer a marked point within a few pixels: forks are what people click for.
    double best = 6;
    for (int x : marks_) {
        const double d = std::fabs(x_of(x) - e->position().x());
        if (d < best) {
            best = d;
            selected_ = x;
        }
    }
    if (best == 6) selected_ = i;
    update();
    emit pointClicked(selected_);
}

bool SparklineWidget::event(QEvent* e) {
    if (e->type() == QEvent::ToolTip && tooltip_) {
        auto* h = static_cast<QHelpEvent*>(e);
        const int i = point_at(h->pos().x());
        if (i >= 0 && plot_rect().contains(h->pos()))
            QToolTip::showText(h->globalPos(), tooltip_(i), this);
        else
            QToolTip::hideText();
        return true;
    }
    return QWidget::event(e);
}

}  // namespace gb::ui
