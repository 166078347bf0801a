// A conversation's generation settings as a JSON object (what the store keeps with it).
#include <QJsonDocument>
#include <QJsonObject>

#include "app/chat_types.h"

namespace gb::app {

std::string to_json(const GenerationSettings& s) {
    QJsonObject o;
    o["temperature"] = s.sampling.temperature;
    o["top_k"] = s.sampling.top_k;
    o["top_p"] = s.sampling.top_p;
    o["min_p"] = s.sampling.min_p;
    o["repeat_penalty"] = s.sampling.repeat_penalty;
    o["seed"] = QString::number(s.sampling.seed);  // 64-bit: a double would round it
    o["max_tokens"] = s.max_tokens;
    o["thinking"] = s.thinking;
    o["think_budget"] = s.think_budget;
    o["disable_experts"] = QString::fromStdString(s.disable_experts);
    o["force_experts"] = QString::fromStdString(s.force_experts);
    o["system_prompt"] = QString::fromStdString(s.system_prompt);
    o["reasoning"] = policy_name(s.reasoning);
    o["top_n"] = s.top_n;
    o["record_routing"] = s.record_routing;
    o["precise"] = s.precise;
    return QJsonDocument(o).toJson(QJsonDocument::Compact).toStdString();
}

GenerationSettings settings_from_json(const std::string& text) {
    GenerationSettings s;
    const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(text)).object();
    s.sampling.temperature =
        static_cast<float>(o.value("temperature").toDouble(s.sampling.temperature));
    s.sampling.top_k = o.value("top_k").toInt(s.sampling.top_k);
    s.sampling.top_p = static_cast<float>(o.value("top_p").toDouble(s.sampling.top_p));
    s.sampling.min_p = static_cast<float>(o.value("min_p").toDouble(s.sampling.min_p));
    s.sampling.repeat_penalty =
        static_cast<float>(o.value("repeat_penalty").toDouble(s.sampling.repeat_penalty));
    s.sampling.seed = o.value("seed").toString(QString::number(s.sampling.seed)).toULongLong();
    s.max_tokens = o.value("max_tokens").toInt(s.max_tokens);
    s.thinking = o.value("thinking").toBool(s.thinking);
    s.think_budget = std::max(-1, o.value("think_budget").toInt(s.think_budget));
    s.disable_experts = o.value("disable_experts").toString().toStdString();
    s.force_experts = o.value("force_experts").toString().toStdString();
    s.system_prompt = o.value("system_prompt").toString().toStdString();
    s.reasoning = policy_from_name(o.value("reasoning").toString("template").toStdString());
    s.top_n = o.value("top_n").toInt(s.top_n);
    s.record_routing = o.value("record_routing").toBool(s.record_routing);
    s.precise = o.value("precise").toBool(s.precise);
    return s;
}

}  // namespace gb::app
