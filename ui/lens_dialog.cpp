// LensDialog: the table and the heatmap of the logit lens.
#include "ui/lens_dialog.h"

#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QVBoxLayout>
#include <cmath>

#include "ui/chart_export.h"
#include "ui/heatmap_widget.h"
#include "ui/token_flow_view.h"

namespace gb::ui {

LensDialog::LensDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Logit lens"));
    resize(760, 640);
    auto* v = new QVBoxLayout(this);
    status_ = new QLabel(this);
    status_->setWordWrap(true);
    v->addWidget(status_);
    table_ = new QTableWidget(this);
    table_->setColumnCount(4);
    table_->setHorizontalHeaderLabels(
        {tr("p(token)"), tr("rank"), tr("entropy"), tr("what the layer predicts")});
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setAccessibleName(tr("Predictions after each layer"));
    v->addWidget(table_, 3);
    auto* caption =
        new QLabel(tr("Around it: the probability each layer gave the token that came next"), this);
    v->addWidget(caption);
    heat_ = new HeatmapWidget(this);
    heat_->setMinimumHeight(160);
    heat_->setAccessibleName(tr("Logit lens heatmap, layers by positions"));
    heat_->set_legend("0", "0.5", "1");
    add_export_menu(heat_, tr("logit-lens"));
    v->addWidget(heat_, 2);
}

QString LensDialog::status_text() const { return status_->text(); }

void LensDialog::set_waiting(const QString& token) {
    status_->setText(tr("Reading every layer for “%1”…").arg(token));
    table_->setRowCount(0);
    heat_->set_data(0, 0, {});
}

void LensDialog::set_error(const QString& error) {
    status_->setText(tr("The layers could not be read: %1").arg(error));
    table_->setRowCount(0);
    heat_->set_data(0, 0, {});
}

void LensDialog::set_lens(const gb::app::ChatEngine::Lens& lens, const QString& token) {
    const auto& L = lens.at.layers;
    status_->setText(
        tr("What the model predicted for “%1” after each layer: the final norm and the output "
           "head applied to the residual stream there. The last row is the model's own "
           "distribution.")
            .arg(token));
    table_->setRowCount(static_cast<int>(L.size()));
    QStringList rows;
    for (size_t i = 0; i < L.size(); ++i) {
        const LensLayer& l = L[i];
        rows << tr("layer %1").arg(l.layer);
        QString top;
        for (const LensPrediction& p : l.top)
            top += (top.isEmpty() ? "" : "   ") +
                   QStringLiteral("“%1” %2%")
                       .arg(token_display(p.text))
                       .arg(100.0 * std::exp(static_cast<double>(p.logprob)), 0, 'f', 1);
        const int r = static_cast<int>(i);
        table_->setItem(r, 0,
                        new QTableWidgetItem(QString::number(
                            std::exp(static_cast<double>(l.target_logprob)), 'f', 4)));
        table_->setItem(r, 1, new QTableWidgetItem(QString::number(l.target_rank + 1)));
        table_->setItem(r, 2, new QTableWidgetItem(QString::number(l.entropy, 'f', 3)));
        table_->setItem(r, 3, new QTableWidgetItem(top));
    }
    table_->setVerticalHeaderLabels(rows);
    table_->resizeColumnsToContents();
    const auto& s = lens.span;
    if (s.prob.empty() || s.prob.front().empty()) {
        heat_->set_data(0, 0, {});
        return;
    }
    const int n_rows = static_cast<int>(s.prob.size()), n_cols = static_cast<int>(s.prob[0].size());
    std::vector<double> values;
    QStringList layer_labels;
    // Layer 0 at the bottom, as the stack is drawn.
    for (int l = n_rows - 1; l >= 0; --l) {
        layer_labels << QString::number(l);
        for (float p : s.prob[static_cast<size_t>(l)]) values.push_back(p);
    }
    heat_->set_data(n_rows, n_cols, std::move(values), layer_labels, tr("layer"),
                    tr("tokens %1 to %2 of the reply (each column: the token that came next)")
                        .arg(s.first + 1)
                        .arg(s.first + n_cols),
                    1.0);
}

}  // namespace gb::ui
