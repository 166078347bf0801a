// Parsing and checking expert steering specs.
#include "engine/model/expert_steering.h"

#include <cstdlib>
#include <sstream>

#include "kernels/error.h"

namespace gb {

namespace {

long parse_number(const std::string& text, const std::string& what, const std::string& spec) {
    char* end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < 0)
        throw Error("expert steering '" + spec + "': " + what + " '" + text +
                    "' is not a number >= 0");
    return v;
}

void apply(const std::string& spec, float value, const ModelConfig& c,
           std::vector<std::vector<float>>& table, std::vector<int64_t>& moe_index) {
    std::stringstream groups(spec);
    for (std::string group; std::getline(groups, group, ';');) {
        if (group.find_first_not_of(" ") == std::string::npos) continue;
        const size_t colon = group.find(':');
        if (colon == std::string::npos)
            throw Error("expert steering '" + spec + "': '" + group +
                        "' should be LAYER:EXPERT,EXPERT (LAYER a layer index or *)");
        std::string layer = group.substr(0, colon);
        layer.erase(0, layer.find_first_not_of(" "));
        std::vector<size_t> rows;
        if (layer == "*") {
            for (size_t i = 0; i < table.size(); ++i) rows.push_back(i);
        } else {
            const long l = parse_number(layer, "layer", spec);
            if (l >= c.n_layer || !c.is_moe_layer(l))
                throw Error("expert steering '" + spec + "': layer " + std::to_string(l) +
                            (l >= c.n_layer ? " does not exist (the model has " +
                                                  std::to_string(c.n_layer) + " layers)"
                                            : " is a dense layer, it has no experts"));
            for (size_t i = 0; i < moe_index.size(); ++i)
                if (moe_index[i] == l) rows.push_back(i);
        }
        std::stringstream experts(group.substr(colon + 1));
        for (std::string e; std::getline(experts, e, ',');) {
            e.erase(0, e.find_first_not_of(" "));
            e.erase(e.find_last_not_of(" ") + 1);
            const long x = parse_number(e, "expert", spec);
            if (x >= c.n_expert)
                throw Error("expert steering '" + spec + "': expert " + std::to_string(x) +
                            " does not exist (the model has " + std::to_string(c.n_expert) +
                            " experts per layer)");
            for (size_t r : rows) {
                float& cell = table[r][static_cast<size_t>(x)];
                if (cell != 0 && cell != value)
                    throw Error("expert " + std::to_string(x) + " of layer " +
                                std::to_string(moe_index[r]) +
                                " is both switched off and forced on");
                cell = value;
            }
        }
    }
}

}  // namespace

std::string ExpertSteering::describe() const {
    std::string out;
    if (!disable.empty()) out += "disable " + disable;
    if (!force.empty()) out += (out.empty() ? "" : "; ") + ("force " + force);
    return out;
}

ExpertSteering parse_expert_steering(const std::string& disable, const std::string& force,
                                     const ModelConfig& c) {
    ExpertSteering s;
    s.disable = disable;
    s.force = force;
    if (disable.empty() && force.empty()) return s;
    if (!c.is_moe())
        throw Error("expert steering: the model is dense, it has no experts to switch");
    std::vector<int64_t> moe_index;
    for (int64_t l = 0; l < c.n_layer; ++l)
        if (c.is_moe_layer(l)) moe_index.push_back(l);
    std::vector<std::vector<float>> table(moe_index.size(),
                                          std::vector<float>(static_cast<size_t>(c.n_expert), 0));
    apply(disable, -1.0f, c, table, moe_index);
    apply(force, 1.0f, c, table, moe_index);
    for (size_t r = 0; r < table.size(); ++r) {
        int64_t off = 0, on = 0;
        for (float v : table[r]) off += v<0, on += v> 0;
        if (on > c.n_expert_used)
            throw Error("expert steering: " + std::to_string(on) + " experts forced on in layer " +
                        std::to_string(moe_index[r]) + ", but a token goes to " +
                        std::to_string(c.n_expert_used));
        if (c.n_expert - off < c.n_expert_used)
            throw Error("expert steering: " + std::to_string(off) +
                        " experts switched off in layer " + std::to_string(moe_index[r]) +
                        " leave fewer than the " + std::to_string(c.n_expert_used) +
                        " each token goes to");
    }
    s.table = std::move(table);
    return s;
}

ExpertSteering parse_steering_description(const std::string& described, const ModelConfig& c) {
    std::string disable, force, *cur = nullptr;
    std::stringstream parts(described);
    for (std::string part; std::getline(parts, part, ';');) {
        part.erase(0, part.find_first_not_of(" "));
        if (part.rfind("disable ", 0) == 0) {
            cur = &disable;
            part.erase(0, 8);
        } else if (part.rfind("force ", 0) == 0) {
            cur = &force;
            part.erase(0, 6);
        }
        if (!cur) throw Error("steering '" + described + "' is not 'disable ...; force ...'");
        *cur += (cur->empty() ? "" : ";") + part;
    }
    return parse_expert_steering(disable, force, c);
}

}  // namespace gb
