// The welcome panel's demo prompts (resources/demo_prompts.json, compiled into the app): a set
// for Glassbox's own demo models and a general one, chosen by the loaded model's name.
#pragma once

#include <QString>
#include <QVector>

namespace gb::app {

struct DemoPrompt {
    QString label;  // what the button says
    QString text;   // the message it sends
};

struct DemoPromptSet {
    QString title;
    QString intro;
    QVector<DemoPrompt> prompts;
};

// The first set whose "match" is a prefix of model_name ("" matches every model). A missing or
// malformed resource gives an empty set and a message in *error (a build problem, not a user's).
DemoPromptSet demo_prompts_for(const QString& model_name, QString* error = nullptr);

// Parses a demo-prompts document; exposed for tests. Throws nothing: errors go to *error.
DemoPromptSet parse_demo_prompts(const QByteArray& json, const QString& model_name, QString* error);

}  // namespace gb::app
