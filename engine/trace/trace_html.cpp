// trace_html: the page, written by hand (a few hundred bytes of CSS, the rest is data).
#include "engine/trace/trace_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/core/utf8.h"
#include "engine/trace/expert_load.h"
#include "engine/trace/trace_analysis.h"

namespace gb {

namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

// Green (likely) to red (surprising), as the app's inspector colours tokens.
std::string colour(float logprob) {
    if (!std::isfinite(logprob)) return "transparent";
    const double t = 1.0 - std::exp(static_cast<double>(logprob));
    const int r = static_cast<int>(120 + 135 * t), g = static_cast<int>(220 - 120 * t), b = 120;
    char buf[48];
    std::snprintf(buf, sizeof buf, "rgba(%d,%d,%d,0.45)", r, g, b);
    return buf;
}

std::string token_title(const TokenRecord& r, int index) {
    std::string t = "token " + std::to_string(index) + " (" + phase_name(r.phase) + ")";
    if (std::isfinite(r.logprob))
        t += "\np = " + fmt("%.4f", std::exp(static_cast<double>(r.logprob)));
    if (std::isfinite(r.entropy)) t += ", entropy " + fmt("%.3f", r.entropy) + " nats";
    for (size_t j = 0; j < r.top.size() && j < 5; ++j)
        t += "\n  " + utf8::repaired(r.top[j].text) + "  " +
             fmt("%.4f", std::exp(static_cast<double>(r.top[j].logprob)));
    return t;
}

// The entropy over the generated tokens as an SVG polyline, forks as dots, steps as rules.
std::string sparkline(const Trace& t, const ReasoningMap& m) {
    std::vector<int> gen;
    for (size_t i = 0; i < t.tokens.size(); ++i)
        if (t.tokens[i].phase != Phase::Prompt) gen.push_back(static_cast<int>(i));
    if (gen.empty()) return "";
    double max = 0;
    for (int i : gen)
        if (std::isfinite(t.tokens[static_cast<size_t>(i)].entropy))
            max = std::max(max, static_cast<double>(t.tokens[static_cast<size_t>(i)].entropy));
    if (max <= 0) max = 1;
    const double w = 900, h = 140, step = w / static_cast<double>(gen.size());
    auto x = [&](size_t k) { return fmt("%.1f", (static_cast<double>(k) + 0.5) * step); };
    auto y = [&](double v) { return fmt("%.1f", h - 4 - (h - 8) * std::clamp(v / max, 0.0, 1.0)); };
    std::vector<int> point_of(t.tokens.size(), -1);
    for (size_t k = 0; k < gen.size(); ++k)
        point_of[static_cast<size_t>(gen[k])] = static_cast<int>(k);
    std::string s =
        "<svg viewBox='0 0 900 140' width='100%' role='img' aria-label='entropy over the reply'>"
        "<rect width='900' height='140' fill='#fff' stroke='#ccc'/>";
    if (m.confidence.lowest.start >= 0) {
        const int a = point_of[static_cast<size_t>(m.confidence.lowest.start)];
        const int b = point_of[static_cast<size_t>(m.confidence.lowest.end)];
        s += "<rect x='" + fmt("%.1f", a * step) + "' y='0' width='" +
             fmt("%.1f", (b - a + 1) * step) +
             "' height='140' fill='#f5d9c3'><title>least confident window</title></rect>";
    }
    for (size_t k = 1; k < m.steps.size(); ++k) {
        const int p = point_of[static_cast<size_t>(m.steps[k].first)];
        s += "<line x1='" + fmt("%.1f", p * step) + "' x2='" + fmt("%.1f", p * step) +
             "' y1='0' y2='140' stroke='#999' stroke-dasharray='2,2'/>";
    }
    if (std::isfinite(m.fork_threshold))
        s += "<line x1='0' x2='900' y1='" + y(m.fork_threshold) + "' y2='" + y(m.fork_threshold) +
             "' stroke='#c83c3c' stroke-dasharray='5,3'><title>fork threshold " +
             fmt("%.3f", m.fork_threshold) + " nats</title></line>";
    s += "<polyline fill='none' stroke='#3264c8' stroke-width='1.2' points='";
    for (size_t k = 0; k < gen.size(); ++k) {
        const float e = t.tokens[static_cast<size_t>(gen[k])].entropy;
        if (std::isfinite(e)) s += x(k) + "," + y(e) + " ";
    }
    s += "'/>";
    for (const ForkToken& f : m.forks) {
        const int p = point_of[static_cast<size_t>(f.token)];
        s += "<circle cx='" + x(static_cast<size_t>(p)) + "' cy='" + y(f.entropy) +
             "' r='2.5' fill='#c83c3c'><title>" +
             html_escape(token_title(t.tokens[static_cast<size_t>(f.token)], f.token)) +
             "</title></circle>";
    }
    return s + "</svg>";
}

}  // namespace

std::string html_escape(std::string_view in) {
    const std::string s = utf8::repaired(in);
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string trace_html(const Trace& t, const std::string& title_in) {
    const TraceAnalysis a = analyze_trace(t);
    const ReasoningMap& m = a.reasoning;
    const std::string title = title_in.empty() ? "Glassbox reply: " + t.model : title_in;
    std::string h;
    h +=
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>" +
        html_escape(title) +
        "</title>\n<style>"
        "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em "
        "auto;color:#111;line-height:1.4}"
        "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
        ".tokens{font-family:ui-monospace,monospace;white-space:pre-wrap;border:1px solid "
        "#ddd;padding:.6em}"
        ".tokens span{border-radius:2px}.think{color:#333;background:#f6f6f6}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;font-size:.9em}"
        ".alarm{background:#fbe3e3;color:#8a1c1c;padding:.4em}.muted{color:#666}"
        "</style></head><body>\n";
    h += "<h1>" + html_escape(title) + "</h1>\n<p class='muted'>Model " + html_escape(t.model) +
         " on " + html_escape(t.backend) + "; " + std::to_string(a.n_prompt) + " prompt tokens, " +
         std::to_string(m.n_reasoning) + " reasoning and " + std::to_string(m.n_answer) +
         " answer tokens; temperature " + fmt("%g", t.sampling.temperature) + ", seed " +
         std::to_string(t.sampling.seed) +
         ". Hover a token for its probability, entropy and "
         "alternatives.</p>\n";

    h += "<h2>Reasoning map</h2>\n" + sparkline(t, m) + "\n<p>";
    h += std::to_string(m.steps.size()) + " steps; " + std::to_string(m.forks.size()) +
         " fork tokens (entropy at or above " +
         (std::isfinite(m.fork_threshold) ? fmt("%.3f", m.fork_threshold) : "-") +
         " nats, the 80th percentile of the reasoning's entropy). ";
    if (!m.confidence.tokens.empty())
        h += "DeepConf confidence: mean " + fmt("%.3f", m.confidence.mean) +
             ", least confident 64-token window " + fmt("%.3f", m.confidence.lowest.value) +
             " at tokens " + std::to_string(m.confidence.lowest.start) + "&ndash;" +
             std::to_string(m.confidence.lowest.end) + ".";
    h += "</p>\n";
    if (m.loop.found)
        h += "<p class='alarm'>Loop: an 8-token sequence repeats " + std::to_string(m.loop.count) +
             " times: &ldquo;" + html_escape(m.loop.text) + "&rdquo;</p>\n";
    if (!m.steps.empty()) {
        h += "<table><tr><th>#</th><th>opened by</th><th>tokens</th><th>ms</th><th>mean "
             "entropy</th><th>text</th></tr>\n";
        for (size_t i = 0; i < m.steps.size(); ++i) {
            const ReasoningStep& s = m.steps[i];
            std::string text = s.text.size() > 160 ? s.text.substr(0, 160) + "…" : s.text;
            h += "<tr><td>" + std::to_string(i + 1) + "</td><td>" +
                 html_escape(s.start == StepStart::Marker ? s.marker : step_start_name(s.start)) +
                 "</td><td>" + std::to_string(s.count) + "</td><td>" + fmt("%.0f", s.t_ms) +
                 "</td><td>" + (std::isfinite(s.entropy_mean) ? fmt("%.3f", s.entropy_mean) : "-") +
                 "</td><td>" + html_escape(text) + "</td></tr>\n";
        }
        h += "</table>\n";
    }

    h += "<h2>Tokens</h2>\n<div class='tokens'>";
    for (size_t i = 0; i < t.tokens.size(); ++i) {
        const TokenRecord& r = t.tokens[i];
        h += "<span class='" +
             std::string(r.phase == Phase::Think ? "think" : phase_name(r.phase)) +
             "' style='background:" + colour(r.logprob) + "' title='" +
             html_escape(token_title(r, static_cast<int>(i))) + "'>" + html_escape(r.text) +
             "</span>";
    }
    h += "</div>\n";

    if (!a.moe.empty()) {
        h += "<h2>Experts</h2>\n<p>" + std::to_string(a.moe.layers.size()) + " MoE layers, " +
             std::to_string(a.moe.n_expert) + " experts, top-" + std::to_string(a.moe.k) +
             ". Relative load (1 = the fair share N&middot;k/E) per layer and "
             "expert:</p>\n<table><tr><th>layer</th><th>MaxVio</th><th>Gini</th>";
        for (int e = 0; e < a.moe.n_expert; ++e) h += "<th>" + std::to_string(e) + "</th>";
        h += "</tr>\n";
        for (const LayerAnalytics& la : a.moe.layers) {
            h += "<tr><td>" + std::to_string(la.layer) + "</td><td>" +
                 fmt("%.2f", la.load.max_violation) + "</td><td>" + fmt("%.2f", la.load.gini) +
                 "</td>";
            for (double v : la.load.relative_load) {
                const int shade = static_cast<int>(255 - std::min(1.0, v / 3.0) * 160);
                char bg[32];
                std::snprintf(bg, sizeof bg, "rgb(%d,%d,255)", shade, shade);
                h += std::string("<td style='background:") + bg + "'>" + fmt("%.2f", v) + "</td>";
            }
            h += "</tr>\n";
        }
        h += "</table>\n";
    }
    h += "<p class='muted'>Exported by Glassbox. The numbers follow "
         "engine/trace/ANALYSIS_FORMAT.md.</p>\n</body></html>\n";
    return h;
}

}  // namespace gb
