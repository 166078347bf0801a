// HeatmapWidget: a rows x columns grid of values drawn as colours (layers x experts in the
// routing view), with axis labels, a tooltip per cell and a click signal. Renders only; the
// numbers come from whoever sets them.
#pragma once

#include <QString>
#include <QWidget>
#include <vector>

namespace gb::ui {

class HeatmapWidget : public QWidget {
    Q_OBJECT
public:
    explicit HeatmapWidget(QWidget* parent = nullptr);

    // values: rows x cols, row-major. max <= 0: the largest value.
    void set_data(int rows, int cols, std::vector<double> values, QStringList row_labels = {},
                  QString row_title = {}, QString col_title = {}, double max = 0);
    void set_selected_column(int col);  // outlined (e.g. the expert whose tokens are listed)
    // The colour bar beside the grid: what its bottom (0), middle and top (the maximum) mean.
    // Empty labels: the numbers 0, max / 2 and max.
    void set_legend(QString low, QString mid, QString high);
    QStringList legend_labels() const;  // bottom, middle, top as painted
    int rows() const { return rows_; }
    int cols() const { return cols_; }
    double value(int r, int c) const { return values_[static_cast<size_t>(r * cols_ + c)]; }
    QSize sizeHint() const override { return {360, 220}; }
    QSize minimumSizeHint() const override { return {160, 90}; }

signals:
    void cellClicked(int row, int col);

protected:
    void paintEvent(QPaintEvent*) override;
    void mousePressEvent(QMouseEvent*) override;
    bool event(QEvent* e) override;  // tooltips

private:
    QRectF grid_rect() const;
    bool cell_at(QPointF p, int& r, int& c) const;

    int rows_ = 0, cols_ = 0;
    std::vector<double> values_;
    QStringList row_labels_;
    QString row_title_, col_title_;
    double max_ = 1;
    int selected_col_ = -1;
    QString legend_low_, legend_mid_, legend_high_;
};

}  // namespace gb::ui
