// Demo prompts: read from the Qt resource, matched to the loaded model by name prefix.
#include "app/demo_prompts.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

// Q_INIT_RESOURCE declares a function, so it must be used outside any namespace. The resource
// lives in the static gb_app library, whose initialiser a linker would otherwise drop.
static void init_resources() { Q_INIT_RESOURCE(glassbox); }

namespace gb::app {

DemoPromptSet parse_demo_prompts(const QByteArray& json, const QString& model_name,
                                 QString* error) {
    auto fail = [&](const QString& why) {
        if (error) *error = "demo prompts: " + why;
        return DemoPromptSet{};
    };
    QJsonParseError pe{};
    const QJsonDocument doc = QJsonDocument::fromJson(json, &pe);
    if (pe.error != QJsonParseError::NoError)
        return fail(pe.errorString() + " at byte " + QString::number(pe.offset));
    const QJsonObject root = doc.object();
    if (root.value("format").toString() != "glassbox-demo-prompts")
        return fail("not a glassbox-demo-prompts document");
    for (const QJsonValue& sv : root.value("sets").toArray()) {
        const QJsonObject s = sv.toObject();
        if (!model_name.startsWith(s.value("match").toString())) continue;
        DemoPromptSet out;
        out.title = s.value("title").toString();
        out.intro = s.value("intro").toString();
        for (const QJsonValue& pv : s.value("prompts").toArray()) {
            const QJsonObject p = pv.toObject();
            const QString text = p.value("text").toString();
            if (text.trimmed().isEmpty()) continue;
            out.prompts.push_back({p.value("label").toString(text), text});
        }
        return out;
    }
    return fail("no set matches '" + model_name + "'");
}

DemoPromptSet demo_prompts_for(const QString& model_name, QString* error) {
    static const bool registered = (init_resources(), true);  // once per process
    (void)registered;
    QFile f(":/demo_prompts.json");
    if (!f.open(QIODevice::ReadOnly)) {
        if (error) *error = "demo prompts: the resource :/demo_prompts.json is missing";
        return {};
    }
    return parse_demo_prompts(f.readAll(), model_name, error);
}

}  // namespace gb::app
