// HeatmapWidget: painting (a perceptually even dark-to-bright ramp) and hit-testing.
#include "ui/heatmap_widget.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>

namespace gb::ui {

namespace {
// Dark blue -> teal -> yellow, roughly viridis: light cells are the busy ones in either theme.
QColor ramp(double t) {
    t = std::clamp(t, 0.0, 1.0);
    const QColor stops[] = {QColor(30, 30, 60), QColor(40, 90, 140), QColor(30, 150, 130),
                            QColor(120, 200, 80), QColor(250, 230, 40)};
    const double x = t * 4;
    const int i = std::min(3, static_cast<int>(x));
    const double f = x - i;
    auto mix = [&](int a, int b) { return static_cast<int>(a + (b - a) * f); };
    return QColor(mix(stops[i].red(), stops[i + 1].red()),
                  mix(stops[i].green(), stops[i + 1].green()),
                  mix(stops[i].blue(), stops[i + 1].blue()));
}
}  // namespace

HeatmapWidget::HeatmapWidget(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void HeatmapWidget::set_data(int rows, int cols, std::vector<double> values, QStringList row_labels,
                             QString row_title, QString col_title, double max) {
    rows_ = rows;
    cols_ = cols;
    values_ = std::move(values);
    values_.resize(static_cast<size_t>(rows * cols));
    row_labels_ = std::move(row_labels);
    row_title_ = std::move(row_title);
    col_title_ = std::move(col_title);
    max_ = max > 0 ? max : 0;
    if (max_ <= 0)
        for (double v : values_) max_ = std::max(max_, v);
    if (max_ <= 0) max_ = 1;
    update();
}

void HeatmapWidget::set_selected_column(int col) {
    selected_col_ = col;
    update();
}

void HeatmapWidget::set_legend(QString low, QString mid, QString high) {
    legend_low_ = std::move(low);
    legend_mid_ = std::move(mid);
    legend_high_ = std::move(high);
    update();
}

QStringList HeatmapWidget::legend_labels() const {
    auto num = [](double v) { return QString::number(v, 'g', 3); };
    return {legend_low_.isEmpty() ? num(0) : legend_low_,
            legend_mid_.isEmpty() ? num(max_ / 2) : legend_mid_,
            legend_high_.isEmpty() ? num(max_) : legend_high_};
}

namespace {
constexpr int kLegendWidth = 64;  // the colour bar and its labels, right of the grid
}

QRectF HeatmapWidget::grid_rect() const {
    return QRectF(48, 6, std::max(10, width() - 56 - kLegendWidth), std::max(10, height() - 30));
}

bool HeatmapWidget::cell_at(QPointF p, int& r, int& c) const {
    const QRectF g = grid_rect();
    if (!rows_ || !cols_ || !g.contains(p)) return false;
    c = std::min(cols_ - 1, static_cast<int>((p.x() - g.left()) / g.width() * cols_));
    r = std::min(rows_ - 1, static_cast<int>((p.y() - g.top()) / g.height() * rows_));
    return true;
}

void HeatmapWidget::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), palette().base());
    if (!rows_ || !cols_) {
        p.drawText(rect(), Qt::AlignCenter, tr("No data"));
        return;
    }
    const QRectF g = grid_rect();
    const double cw = g.width() / cols_, ch = g.height() / rows_;
    for (int r = 0; r < rows_; ++r)
        for (int c = 0; c < cols_; ++c)
            p.fillRect(QRectF(g.left() + c * cw, g.top() + r * ch, cw + 0.5, ch + 0.5),
                       ramp(value(r, c) / max_));
    if (selected_col_ >= 0 && selected_col_ < cols_) {
        p.setPen(QPen(palette().highlight().color(), 2));
        p.drawRect(QRectF(g.left() + selected_col_ * cw, g.top(), cw, g.height()));
    }
    p.setPen(palette().text().color());
    QFont f = font();
    f.setPointSizeF(std::max(6.0, f.pointSizeF() - 2));
    p.setFont(f);
    const int label_every = std::max(1, static_cast<int>(14 / std::max(1.0, ch)));
    for (int r = 0; r < rows_; r += label_every) {
        const QString label = r < row_labels_.size() ? row_labels_[r] : QString::number(r);
        p.drawText(QRectF(0, g.top() + r * ch, 44, std::max(ch, 12.0)),
                   Qt::AlignRight | Qt::AlignVCenter, label);
    }
    const int col_every = std::max(1, static_cast<int>(24 / std::max(1.0, cw)));
    for (int c = 0; c < cols_; c += col_every)
        p.drawText(QRectF(g.left() + c * cw - 10, g.bottom() + 2, cw + 20, 12),
                   Qt::AlignHCenter | Qt::AlignTop, QString::number(c));
    p.drawText(QRectF(g.left(), g.bottom() + 12, g.width(), 14), Qt::AlignCenter, col_title_);
    // Colour bar: the ramp bottom (0) to top (max), labelled at both ends and the middle.
    const QRectF bar(g.right() + 8, g.top(), 10, g.height());
    constexpr int kSteps = 48;
    for (int i = 0; i < kSteps; ++i) {
        const double y0 = bar.bottom() - bar.height() * (i + 1) / kSteps;
        p.fillRect(QRectF(bar.left(), y0, bar.width(), bar.height() / kSteps + 0.5),
                   ramp((i + 0.5) / kSteps));
    }
    const QStringList labels = legend_labels();
    const QRectF text_col(bar.right() + 3, 0, kLegendWidth - bar.width() - 11, 12);
    p.drawText(text_col.translated(0, bar.bottom() - 12), Qt::AlignLeft | Qt::AlignBottom,
               labels[0]);
    p.drawText(text_col.translated(0, bar.center().y() - 6), Qt::AlignLeft | Qt::AlignVCenter,
               labels[1]);
    p.drawText(text_col.translated(0, bar.top()), Qt::AlignLeft | Qt::AlignTop, labels[2]);
    p.save();
    p.translate(8, g.center().y());
    p.rotate(-90);
    p.drawText(QRectF(-g.height() / 2, -8, g.height(), 14), Qt::AlignCenter, row_title_);
    p.restore();
}

void HeatmapWidget::mousePressEvent(QMouseEvent* e) {
    int r = 0, c = 0;
    if (cell_at(e->position(), r, c)) emit cellClicked(r, c);
}

bool HeatmapWidget::event(QEvent* e) {
    if (e->type() == QEvent::ToolTip) {
        auto* he = static_cast<QHelpEvent*>(e);
        int r = 0, c = 0;
        if (cell_at(he->pos(), r, c)) {
            const QString row = r < row_labels_.size() ? row_labels_[r] : QString::number(r);
            QToolTip::showText(he->globalPos(), QStringLiteral("%1 %2, %3 %4: %5")
                                                    .arg(row_title_, row, col_title_)
                                                    .arg(c)
                                                    .arg(value(r, c), 0, 'g', 3));
        } else {
            QToolTip::hideText();
        }
        return true;
    }
    return QWidget::event(e);
}

}  // namespace gb::ui
