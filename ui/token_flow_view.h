// TokenFlowView: every token of a trace as flowing text, each one a clickable box coloured by an
// overlay. Laid out once per trace and width (no rich-text document), painted only where it is
// visible, so a 30,000-token reasoning trace opens and re-colours as fast as a short one.
#pragma once

#include <QAbstractScrollArea>
#include <QColor>
#include <QRectF>
#include <QString>
#include <memory>
#include <vector>

#include "engine/trace/trace.h"

namespace gb::ui {

enum class Overlay { None, Probability, Entropy };

// Display text of raw token bytes: invalid UTF-8 as hex, whitespace made visible where a token
// is nothing else.
QString token_display(const std::string& bytes);
// token_display on one line: line breaks and tabs inside a token's text shown as marks (lists,
// tooltips, labels).
QString token_line(const std::string& bytes);
// Background colour for a token under an overlay (invalid colour: none).
QColor overlay_colour(const TokenRecord& r, Overlay mode);

class TokenFlowView : public QAbstractScrollArea {
    Q_OBJECT
public:
    explicit TokenFlowView(QWidget* parent = nullptr);

    void set_trace(std::shared_ptr<const Trace> trace);
    // The trace given to set_trace() has grown (a reply being streamed): lays out only the new
    // tokens, and keeps following the end when the view was showing it.
    void tokens_appended();
    void set_overlay(Overlay mode);
    // Marks token i (-1: none) and scrolls it into view.
    void set_selected(int index);
    int selected() const { return selected_; }

    // The token under a point of the viewport, or -1.
    int token_at(QPointF viewport_pos) const;
    // Token i's first box in viewport coordinates (empty when i has none).
    QRectF token_rect(int index) const;
    // The background painted behind token i under the current overlay (invalid: none).
    QColor token_background(int index) const;
    int tokens_painted() const { return painted_; }  // in the last paint (tests)
    int line_count() const { return static_cast<int>(line_y_.size()); }

signals:
    void tokenActivated(int index);

protected:
    void paintEvent(QPaintEvent* e) override;
    void resizeEvent(QResizeEvent* e) override;
    void mousePressEvent(QMouseEvent* e) override;
    void keyPressEvent(QKeyEvent* e) override;
    void changeEvent(QEvent* e) override;

private:
    // One run of a token's text on one line (a token with a line break inside has several), or a
    // phase heading (token -1).
    struct Piece {
        QString text;
        double width = 0;
        int token = -1;
        int breaks_after = 0;  // line breaks that follow this piece
        QRectF rect;           // set by layout(), in document coordinates
    };
    void build_pieces();
    void add_pieces(size_t from_token);  // measures tokens from_token.. into pieces_
    void layout();                       // places every piece for the current width
    void place(size_t from_piece);       // places pieces from_piece.. after the ones placed
    void update_scroll_range();
    void scroll_to(int index);

    std::shared_ptr<const Trace> trace_;
    Overlay overlay_ = Overlay::Probability;
    int selected_ = -1;
    std::vector<Piece> pieces_;
    std::vector<int> first_piece_;  // per token: index of its first piece (-1: none)
    std::vector<double> line_y_;    // top of each laid-out line
    double line_h_ = 16, height_ = 0, laid_width_ = -1;
    // Where place() goes on: the next piece's x on line y, and whether that line has begun.
    double x_ = 0, y_ = 0;
    bool line_open_ = false;
    Phase last_phase_ = Phase::Prompt;  // of the last token measured (a heading when it changes)
    int painted_ = 0;
};

}  // namespace gb::ui
