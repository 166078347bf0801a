// LensDialog: the logit lens of one token of a reply (what the model predicted for it after
// every layer: a layer x top-k table, with the probability and rank of the token that came)
// and, around it, a layer x position heatmap of the probability each layer gave the token that
// followed. The numbers are gb::logit_lens's (engine/session/logit_lens.h), as
// `glassbox-cli lens` prints them.
#pragma once

#include <QDialog>

#include "app/chat_engine.h"

class QLabel;
class QTableWidget;

namespace gb::ui {

class HeatmapWidget;

class LensDialog : public QDialog {
    Q_OBJECT
public:
    explicit LensDialog(QWidget* parent = nullptr);
    // While the engine reads the layers.
    void set_waiting(const QString& token);
    void set_error(const QString& error);
    void set_lens(const gb::app::ChatEngine::Lens& lens, const QString& token);

    QString status_text() const;
    QTableWidget* table() const { return table_; }
    HeatmapWidget* heatmap() const { return heat_; }

private:
    QLabel* status_ = nullptr;
    QTableWidget* table_ = nullptr;
    HeatmapWidget* heat_ = nullptr;
};

}  // namespace gb::ui
