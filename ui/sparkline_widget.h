// SparklineWidget: one value series over a reply's tokens (entropy) with a second on a 0..1
// scale (the chosen token's probability), a threshold line, marked points (fork tokens),
// vertical rules (step starts), a shaded range (the least confident window) and a split into
// two regions (reasoning, then answer). Click a point to pick its token. Renders only.
#pragma once

#include <QWidget>
#include <functional>
#include <vector>

namespace gb::ui {

class SparklineWidget : public QWidget {
    Q_OBJECT
public:
    explicit SparklineWidget(QWidget* parent = nullptr);

    // values: the main series (NaN: a gap); probs: the 0..1 series (empty: none).
    void set_series(std::vector<double> values, std::vector<double> probs);
    void set_threshold(double y);         // NaN: none
    void set_marks(std::vector<int> xs);  // drawn as dots on the main series
    void set_rules(std::vector<int> xs);  // vertical lines before these points
    void set_band(int first, int last);   // shaded, inclusive; first < 0: none
    void set_split(int x);                // points from x on are the second region; < 0: none
    void set_selected(int x);             // outlined; < 0: none
    void set_tooltip(std::function<QString(int)> fn) { tooltip_ = std::move(fn); }

    int count() const { return static_cast<int>(values_.size()); }
    const std::vector<int>& marks() const { return marks_; }
    int selected() const { return selected_; }
    // The point under a widget x coordinate (nearest), -1 when there are none.
    int point_at(double x) const;
    double x_of(int i) const;  // widget x of point i's centre

    QSize sizeHint() const override { return {420, 150}; }
    QSize minimumSizeHint() const override { return {160, 80}; }

signals:
    void pointClicked(int x);

protected:
    void paintEvent(QPaintEvent*) override;
    void mousePressEvent(QMouseEvent*) override;
    bool event(QEvent* e) override;  // tooltips

private:
    QRectF plot_rect() const;
    double y_of(double v, double max, const QRectF& r) const;

    std::vector<double> values_, probs_;
    double threshold_;
    std::vector<int> marks_, rules_;
    int band_first_ = -1, band_last_ = -1;
    int split_ = -1;
    int selected_ = -1;
    std::function<QString(int)> tooltip_;
};

}  // namespace gb::ui
