// TokenFlowView: pieces (token texts split at line breaks, and phase headings) measured once per
// trace, placed into lines once per width, painted by binary search over the visible lines.
#include "ui/token_flow_view.h"

#include <QEvent>
#include <QFontDatabase>
#include <QFontMetricsF>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QScrollBar>
#include <algorithm>
#include <cmath>

namespace gb::ui {

namespace {

constexpr double kMargin = 6;

}  // namespace

QString token_display(const std::string& bytes) {
    QString s = QString::fromUtf8(bytes.data(), static_cast<qsizetype>(bytes.size()));
    if (s.contains(QChar::ReplacementCharacter)) {
        QString hex;
        for (unsigned char c : bytes) hex += QStringLiteral("<%1>").arg(c, 2, 16, QChar('0'));
        return hex;
    }
    if (s.trimmed().isEmpty()) {
        s.replace('\n', "↵");
        s.replace(' ', "·");
        s.replace('\t', "→");
    }
    return s;
}

QString token_line(const std::string& bytes) {
    QString s = token_display(bytes);
    s.replace('\n', QStringLiteral("↵"));
    s.replace('\t', QStringLiteral("→"));
    return s;
}

QColor overlay_colour(const TokenRecord& r, Overlay mode) {
    if (mode == Overlay::None) return {};
    double t = 0;  // 0 good (confident) .. 1 bad (unlikely / uncertain)
    if (mode == Overlay::Probability) {
        if (std::isnan(r.logprob)) return {};
        t = 1.0 - std::exp(static_cast<double>(r.logprob));
    } else {
        if (std::isnan(r.entropy)) return {};
        t = std::min(1.0, static_cast<double>(r.entropy) / 3.0);  // 3 nats: very uncertain
    }
    // Green (confident) to red (surprising), translucent so text stays readable.
    return QColor::fromHsvF(static_cast<float>(0.33 * (1.0 - t)), 0.75f, 0.95f, 0.45f);
}

TokenFlowView::TokenFlowView(QWidget* parent) : QAbstractScrollArea(parent) {
    setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    setFocusPolicy(Qt::StrongFocus);
    viewport()->setCursor(Qt::PointingHandCursor);
    verticalScrollBar()->setSingleStep(20);
    setAccessibleName(
        tr("Tokens of the reply; click one, or move with the arrow keys, to inspect it"));
}

void TokenFlowView::set_trace(std::shared_ptr<const Trace> trace) {
    trace_ = std::move(trace);
    selected_ = -1;
    last_phase_ = Phase::Prompt;
    build_pieces();
    laid_width_ = -1;
    layout();
    verticalScrollBar()->setValue(0);
    viewport()->update();
}

void TokenFlowView::set_overlay(Overlay mode) {
    overlay_ = mode;
    viewport()->update();
}

void TokenFlowView::set_selected(int index) {
    selected_ = index;
    if (index >= 0) scroll_to(index);
    viewport()->update();
}

void TokenFlowView::build_pieces() {
    pieces_.clear();
    first_piece_.clear();
    line_h_ = std::ceil(QFontMetricsF(font()).height()) + 2;
    if (trace_) add_pieces(0);
}

void TokenFlowView::add_pieces(size_t from) {
    const QFontMetricsF fm(font());
    const size_t n = trace_->tokens.size();
    first_piece_.resize(n, -1);
    for (size_t i = from; i < n; ++i) {
        const TokenRecord& r = trace_->tokens[i];
        if (i == 0 || r.phase != last_phase_) {
            Piece h;
            h.text = QStringLiteral("── %1 ──")
                         .arg(r.phase == Phase::Prompt  ? tr("prompt")
                              : r.phase == Phase::Think ? tr("reasoning")
                                                        : tr("answer"));
            h.width = fm.horizontalAdvance(h.text);
            h.breaks_after = 1;  // and place() starts it on a line of its own
            pieces_.push_back(std::move(h));
            last_phase_ = r.phase;
        }
        first_piece_[i] = static_cast<int>(pieces_.size());
        const QString shown = token_display(r.text);
        const auto newlines = static_cast<int>(std::count(r.text.begin(), r.text.end(), '\n'));
        if (!shown.contains('\n')) {
            // One box; a whitespace-only token shows its line breaks as ↵ and then makes them.
            Piece p;
            p.text = shown;
            p.width = std::max(2.0, fm.horizontalAdvance(shown));
            p.token = static_cast<int>(i);
            p.breaks_after = newlines;
            pieces_.push_back(std::move(p));
            continue;
        }
        const QStringList parts = shown.split('\n');
        for (qsizetype k = 0; k < parts.size(); ++k) {
            Piece p;
            p.text = parts[k];
            p.width = std::max(2.0, fm.horizontalAdvance(parts[k]));
            p.token = static_cast<int>(i);
            p.breaks_after = k + 1 < parts.size() ? 1 : 0;
            pieces_.push_back(std::move(p));
        }
    }
}

void TokenFlowView::tokens_appended() {
    if (!trace_ || trace_->tokens.size() <= first_piece_.size()) return;
    QScrollBar* sb = verticalScrollBar();
    const bool at_end = sb->value() >= sb->maximum() - 2;
    const size_t from = pieces_.size();
    add_pieces(first_piece_.size());
    if (laid_width_ < 0) {
        layout();
    } else {
        place(from);
        update_scroll_range();
    }
    if (at_end) sb->setValue(sb->maximum());
    viewport()->update();
}

void TokenFlowView::layout() {
    const double width = std::max(40.0, viewport()->width() - 2 * kMargin);
    if (width == laid_width_) return;
    laid_width_ = width;
    line_y_.clear();
    x_ = 0;
    y_ = kMargin;
    line_open_ = false;
    place(0);
    update_scroll_range();
}

void TokenFlowView::place(size_t from) {
    const double width = laid_width_;
    auto new_line = [&] {
        y_ += line_h_;
        x_ = 0;
        line_open_ = false;
    };
    for (size_t i = from; i < pieces_.size(); ++i) {
        Piece& p = pieces_[i];
        if (line_open_ && (p.token < 0 || x_ + p.width > width)) new_line();  // headings too
        if (!line_open_) {
            line_y_.push_back(y_);
            line_open_ = true;
        }
        p.rect = QRectF(kMargin + x_, y_, p.width, line_h_);
        x_ += p.width;
        for (int b = 0; b < p.breaks_after; ++b) {
            if (b > 0) line_y_.push_back(y_);  // an empty line
            new_line();
        }
    }
    height_ = y_ + (line_open_ ? line_h_ : 0) + kMargin;
}

void TokenFlowView::update_scroll_range() {
    QScrollBar* sb = verticalScrollBar();
    sb->setPageStep(viewport()->height());
    sb->setRange(0, std::max(0, static_cast<int>(std::ceil(height_)) - viewport()->height()));
}

void TokenFlowView::resizeEvent(QResizeEvent* e) {
    QAbstractScrollArea::resizeEvent(e);
    layout();
    update_scroll_range();
}

void TokenFlowView::changeEvent(QEvent* e) {
    QAbstractScrollArea::changeEvent(e);
    if (e->type() == QEvent::FontChange) {  // new metrics: measure again
        last_phase_ = Phase::Prompt;
        build_pieces();
        laid_width_ = -1;
        layout();
    }
}

void TokenFlowView::paintEvent(QPaintEvent*) {
    QPainter p(viewport());
    painted_ = 0;
    if (pieces_.empty()) return;
    const double top = verticalScrollBar()->value();
    const double bottom = top + viewport()->height();
    // The first piece whose line reaches into view: pieces are in line order.
    auto it = std::lower_bound(pieces_.begin(), pieces_.end(), top,
                               [&](const Piece& a, double y) { return a.rect.bottom() < y; });
    const QColor heading = palette().color(QPalette::Mid);
    const QColor text = palette().color(QPalette::Text);
    for (; it != pieces_.end() && it->rect.top() < bottom; ++it) {
        const QRectF r = it->rect.translated(0, -top);
        if (it->token < 0) {
            p.setPen(heading);
            p.drawText(r, Qt::AlignLeft | Qt::AlignVCenter, it->text);
            continue;
        }
        ++painted_;
        const QColor bg = overlay_colour(trace_->tokens[static_cast<size_t>(it->token)], overlay_);
        if (bg.isValid()) p.fillRect(r, bg);
        p.setPen(text);
        p.drawText(r, Qt::AlignLeft | Qt::AlignVCenter | Qt::TextDontClip, it->text);
        if (it->token == selected_) {
            p.setPen(QPen(text, 1.5));
            p.drawRect(r.adjusted(0.5, 0.5, -0.5, -0.5));
        }
    }
}

int TokenFlowView::token_at(QPointF pos) const {
    const QPointF doc(pos.x(), pos.y() + verticalScrollBar()->value());
    auto it = std::lower_bound(pieces_.begin(), pieces_.end(), doc.y(),
                               [](const Piece& a, double y) { return a.rect.bottom() < y; });
    for (; it != pieces_.end() && it->rect.top() <= doc.y(); ++it)
        if (it->token >= 0 && it->rect.contains(doc)) return it->token;
    return -1;
}

QRectF TokenFlowView::token_rect(int index) const {
    if (index < 0 || index >= static_cast<int>(first_piece_.size()) || first_piece_[index] < 0)
        return {};
    return pieces_[static_cast<size_t>(first_piece_[index])].rect.translated(
        0, -verticalScrollBar()->value());
}

QColor TokenFlowView::token_background(int index) const {
    if (!trace_ || index < 0 || index >= static_cast<int>(trace_->tokens.size())) return {};
    return overlay_colour(trace_->tokens[static_cast<size_t>(index)], overlay_);
}

void TokenFlowView::scroll_to(int index) {
    if (index < 0 || index >= static_cast<int>(first_piece_.size()) || first_piece_[index] < 0)
        return;
    const QRectF r = pieces_[static_cast<size_t>(first_piece_[index])].rect;
    QScrollBar* sb = verticalScrollBar();
    if (r.top() < sb->value())
        sb->setValue(static_cast<int>(r.top() - line_h_));
    else if (r.bottom() > sb->value() + viewport()->height())
        sb->setValue(static_cast<int>(r.bottom() + line_h_ - viewport()->height()));
}

void TokenFlowView::mousePressEvent(QMouseEvent* e) {
    if (e->button() != Qt::LeftButton) return QAbstractScrollArea::mousePressEvent(e);
    const int i = token_at(e->position());
    if (i >= 0) emit tokenActivated(i);
}

void TokenFlowView::keyPressEvent(QKeyEvent* e) {
    if (!trace_ || trace_->tokens.empty()) return QAbstractScrollArea::keyPressEvent(e);
    const int n = static_cast<int>(trace_->tokens.size());
    int i = selected_;
    switch (e->key()) {
        case Qt::Key_Right: i = std::min(n - 1, i + 1); break;
        case Qt::Key_Left: i = std::max(0, i < 0 ? 0 : i - 1); break;
        case Qt::Key_Home: i = 0; break;
        case Qt::Key_End: i = n - 1; break;
        default: return QAbstractScrollArea::keyPressEvent(e);
    }
    if (i != selected_) emit tokenActivated(i);
}

}  // namespace gb::ui
