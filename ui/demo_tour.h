// DemoTour: drives the app the way a person would (load a model, send a prompt, inspect a
// token, visit each panel) and saves a screenshot of every panel; tools/screenshots.sh runs it
// under Xvfb. Also useful to check a build by eye.
#pragma once

#include <QObject>
#include <QString>

namespace gb::app {
class ChatController;
}

namespace gb::ui {

class MainWindow;

class DemoTour : public QObject {
    Q_OBJECT
public:
    DemoTour(MainWindow& window, gb::app::ChatController& controller, QString out_dir,
             QString prompt, QObject* parent = nullptr);
    void start();  // after the model load was requested

signals:
    void done(int exit_code);

private:
    void shoot(const QString& name);
    void save_dialog(QWidget* d, const QString& name);  // a dialog's own window
    void shoot_step_mode();  // a reply in step mode, its third token waiting
    void after_reply(qint64 id);

    MainWindow& w_;
    gb::app::ChatController& c_;
    QString out_, prompt_;
    bool sent_ = false;
};

}  // namespace gb::ui
