// CompareDialog: choices, layout, and drawing a comparison.
#include "ui/compare_dialog.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "ui/chart_export.h"
#include "ui/heatmap_widget.h"
#include "ui/sparkline_widget.h"

namespace gb::ui {

using namespace gb::app;

namespace {

constexpr int kFileItem = -1;  // the "Trace file…" entry's data

// A difference in nats: three decimals, or two significant digits below 0.001 (a fast mode
// against a precise one can differ by 1e-4, which three decimals would show as 0.000).
QString fixed(double v, int digits = 3) {
    if (!std::isfinite(v)) return QStringLiteral("–");
    if (v != 0 && std::fabs(v) < 1e-3) return QString::number(v, 'g', 2);
    return QString::number(v, 'f', digits);
}

QString html_token(const std::string& bytes) {
    QString s =
        QString::fromUtf8(bytes.data(), static_cast<qsizetype>(bytes.size())).toHtmlEscaped();
    s.replace('\n', QStringLiteral("↵<br>"));
    s.replace(' ', QStringLiteral("&nbsp;"));
    return s;
}

}  // namespace

CompareDialog::CompareDialog(ChatController& controller, qint64 a, QWidget* parent)
    : QDialog(parent), c_(controller), comparison_(controller.store()) {
    setWindowTitle(tr("Compare two replies"));
    resize(1000, 720);
    auto* v = new QVBoxLayout(this);
    auto* row = new QHBoxLayout;
    a_ = new QComboBox(this);
    b_ = new QComboBox(this);
    a_->setAccessibleName(tr("Reply A"));
    b_->setAccessibleName(tr("Reply B"));
    row->addWidget(new QLabel(tr("A:"), this));
    row->addWidget(a_, 1);
    row->addWidget(new QLabel(tr("B:"), this));
    row->addWidget(b_, 1);
    v->addLayout(row);
    summary_ = new QLabel(tr("Choose two replies."), this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    summary_->setAccessibleName(tr("Comparison summary"));
    v->addWidget(summary_);
    auto* split = new QSplitter(Qt::Vertical, this);
    tokens_ = new QTextBrowser(split);
    tokens_->setAccessibleName(
        tr("The two replies aligned: shared tokens plain, A's own struck "
           "through in red, B's own underlined in green"));
    line_ = new SparklineWidget(split);
    line_->setAccessibleName(tr("Absolute log-probability difference along the alignment"));
    loads_ = new HeatmapWidget(split);
    loads_->setAccessibleName(tr("Change of expert load per MoE layer, B against A"));
    add_export_menu(line_, tr("logprob-difference"));
    add_export_menu(loads_, tr("expert-load-change"));
    split->addWidget(tokens_);
    split->addWidget(line_);
    split->addWidget(loads_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    split->setStretchFactor(2, 2);
    v->addWidget(split, 1);
    fill_choices(a);
    auto changed = [this](QComboBox* box) {
        if (box->currentData().toLongLong() == kFileItem)
            choose_file(box);
        else
            run();
    };
    connect(a_, &QComboBox::activated, this, [this, changed] { changed(a_); });
    connect(b_, &QComboBox::activated, this, [this, changed] { changed(b_); });
    connect(&comparison_, &ReplyComparison::compared, this, &CompareDialog::show_result);
    connect(&comparison_, &ReplyComparison::failed, this,
            [this](const QString& e) { summary_->setText(tr("Cannot compare: %1").arg(e)); });
    run();
}

void CompareDialog::fill_choices(qint64 a) {
    int n = 0, index_a = -1;
    for (QComboBox* box : {a_, b_}) box->clear();
    for (const StoredMessage& m : c_.messages()) {
        if (m.role != "assistant") continue;
        ++n;
        QString text = QString::fromStdString(m.content).simplified();
        if (text.size() > 60) text = text.left(59) + QStringLiteral("…");
        QString label = tr("Reply %1 · %2 reasoning + %3 answer tokens · %4")
                            .arg(n)
                            .arg(m.n_reasoning_tokens)
                            .arg(m.n_answer_tokens)
                            .arg(text);
        if (!m.precision.empty())
            label = tr("%1 · %2").arg(label, QString::fromStdString(m.precision));
        for (QComboBox* box : {a_, b_}) box->addItem(label, QVariant::fromValue<qlonglong>(m.id));
        if (m.id == a) index_a = a_->count() - 1;
    }
    for (QComboBox* box : {a_, b_})
        box->addItem(tr("Trace file…"), QVariant::fromValue<qlonglong>(kFileItem));
    const int replies = a_->count() - 1;
    if (index_a < 0) index_a = std::max(0, replies - 1);
    a_->setCurrentIndex(replies ? index_a : -1);
    b_->setCurrentIndex(replies > 1 ? (index_a > 0 ? index_a - 1 : 1) : -1);
}

void CompareDialog::choose_file(QComboBox* box) {
    const QString path = QFileDialog::getOpenFileName(
        this, tr("A trace file"), QString(), tr("Traces (*.json *.gbtrace);;All files (*)"));
    if (path.isEmpty()) return;
    box->insertItem(box->count() - 1, QFileInfo(path).fileName(), path);
    box->setCurrentIndex(box->count() - 2);
    run();
}

// Combo data: a message id (> 0), a file path (a string), kFileItem, or an added trace, -(index
// + 10) into added_.
constexpr qlonglong kAddedBase = -10;

static ReplySource source_of(const QComboBox* box,
                             const std::vector<std::shared_ptr<const Trace>>& added) {
    ReplySource s;
    if (box->currentIndex() < 0) return s;
    const QVariant d = box->currentData();
    const qlonglong v = d.toLongLong();
    if (d.typeId() == QMetaType::QString)
        s.file = d.toString();
    else if (v > 0)
        s.message_id = v;
    else if (v <= kAddedBase && static_cast<size_t>(kAddedBase - v) < added.size())
        s.trace = added[static_cast<size_t>(kAddedBase - v)];
    return s;
}

void CompareDialog::add_trace(std::shared_ptr<const Trace> t, const QString& label) {
    if (!t) return;
    added_.push_back(std::move(t));
    const qlonglong data = kAddedBase - static_cast<qlonglong>(added_.size() - 1);
    for (QComboBox* box : {a_, b_})
        box->insertItem(box->count() - 1, label, QVariant::fromValue<qlonglong>(data));
    b_->setCurrentIndex(b_->count() - 2);
    run();
}

void CompareDialog::run() {
    const ReplySource a = source_of(a_, added_), b = source_of(b_, added_);
    if (!a.valid() || !b.valid()) {
        summary_->setText(
            tr("Choose two replies: regenerate a reply (another seed) or open a "
               "trace file (another model or quantisation) to have something to "
               "compare."));
        return;
    }
    compare(a, b);
}

void CompareDialog::compare(const ReplySource& a, const ReplySource& b) {
    summary_->setText(tr("Comparing…"));
    comparison_.compare(a, b);
}

QString CompareDialog::summary_text() const { return summary_->text(); }

void CompareDialog::show_result(std::shared_ptr<const Trace> ta, std::shared_ptr<const Trace> tb,
                                std::shared_ptr<const TraceComparison> c) {
    ta_ = std::move(ta);
    tb_ = std::move(tb);
    result_ = std::move(c);
    const TraceComparison& r = *result_;
    QString s = tr("<b>%1 tokens in both</b>, %2 only in A (<span style='color:#b02020'>struck "
                   "through</span>), %3 only in B (<span style='color:#208040'>underlined</span>). "
                   "A: %4 reasoning + %5 answer tokens; B: %6 + %7.")
                    .arg(r.same)
                    .arg(r.only_a)
                    .arg(r.only_b)
                    .arg(r.n_reasoning_a)
                    .arg(r.n_answer_a)
                    .arg(r.n_reasoning_b)
                    .arg(r.n_answer_b);
    // Fast against precise: the differences are the fast mode's rounding, probability against
    // probability.
    if (ta_ && tb_ && !ta_->precision.empty() && !tb_->precision.empty() &&
        ta_->precision != tb_->precision)
        s += tr("<br>A was computed in %1 mode, B in %2 mode: on the shared tokens the "
                "log-probability differences are the fast mode's rounding.")
                 .arg(QString::fromStdString(ta_->precision),
                      QString::fromStdString(tb_->precision));
    s += r.first_divergence < 0
             ? tr("<br>The replies are the same token for token.")
             : tr("<br>They part at row %1 of the alignment.").arg(r.first_divergence);
    if (std::isfinite(r.logprob_rms))
        s += tr("<br>Log-probability B − A over the shared tokens: mean |Δ| %1, RMS %2, largest "
                "%3 nats; entropy mean |Δ| %4 nats.")
                 .arg(fixed(r.logprob_mean_abs))
                 .arg(fixed(r.logprob_rms))
                 .arg(fixed(r.logprob_max_abs))
                 .arg(fixed(r.entropy_mean_abs));
    if (r.loads_comparable && !r.layers.empty()) {
        double moved = 0;
        for (const LayerLoadChange& l : r.layers) moved += l.moved;
        s += tr("<br>Expert load: on average %1% of the routings went to other experts (per "
                "layer in the heatmap: bright where B used an expert more, dark where less).")
                 .arg(100 * moved / static_cast<double>(r.layers.size()), 0, 'f', 1);
    } else {
        s += tr("<br>Expert loads cannot be compared (a dense model, or different experts).");
    }
    summary_->setText(s);

    // The alignment as text: shared tokens plain, A's own struck through, B's own underlined.
    QString html = QStringLiteral("<div style='font-family: monospace'>");
    std::vector<double> line;
    std::vector<int> marks;
    for (size_t i = 0; i < r.alignment.size(); ++i) {
        const AlignedToken& t = r.alignment[i];
        if (t.same()) {
            html += html_token(ta_->tokens[static_cast<size_t>(t.a)].text);
        } else if (t.a >= 0) {
            html += QStringLiteral("<span style='color:#b02020; text-decoration: line-through'>") +
                    html_token(ta_->tokens[static_cast<size_t>(t.a)].text) + "</span>";
            marks.push_back(static_cast<int>(i));
        } else {
            html += QStringLiteral("<span style='color:#208040; text-decoration: underline'>") +
                    html_token(tb_->tokens[static_cast<size_t>(t.b)].text) + "</span>";
            marks.push_back(static_cast<int>(i));
        }
        line.push_back(std::isfinite(r.logprob_diff[i]) ? std::fabs(r.logprob_diff[i])
                                                        : std::nan(""));
    }
    html += QStringLiteral("</div>");
    html_ = html;
    tokens_->setHtml(html);
    line_->set_series(std::move(line), {});
    line_->set_rules(std::move(marks));
    line_->set_tooltip([this](int row) {
        if (!result_ || row < 0 || row >= static_cast<int>(result_->alignment.size()))
            return QString();
        const AlignedToken& t = result_->alignment[static_cast<size_t>(row)];
        const Trace& tr_ = t.a >= 0 ? *ta_ : *tb_;
        const int i = t.a >= 0 ? t.a : t.b;
        return tr("Row %1 “%2”: %3, |Δ log p| %4")
            .arg(row)
            .arg(html_token(tr_.tokens[static_cast<size_t>(i)].text))
            .arg(t.same()   ? tr("in both")
                 : t.a >= 0 ? tr("only in A")
                            : tr("only in B"))
            .arg(fixed(std::fabs(result_->logprob_diff[static_cast<size_t>(row)])));
    });

    if (r.loads_comparable && !r.layers.empty()) {
        const int E = static_cast<int>(r.layers[0].diff.size());
        double maxabs = 1e-9;
        for (const LayerLoadChange& l : r.layers)
            for (double d : l.diff) maxabs = std::max(maxabs, std::fabs(d));
        std::vector<double> values;
        QStringList rows;
        for (const LayerLoadChange& l : r.layers) {
            rows << QString::number(l.layer);
            for (double d : l.diff) values.push_back(0.5 + d / (2 * maxabs));
        }
        loads_->set_data(static_cast<int>(r.layers.size()), E, std::move(values), rows, tr("layer"),
                         tr("expert: relative load B − A"), 1.0);
        loads_->set_legend(tr("A −%1").arg(maxabs, 0, 'f', 2), tr("equal"),
                           tr("B +%1").arg(maxabs, 0, 'f', 2));
    } else {
        loads_->set_data(0, 0, {});
    }
}

}  // namespace gb::ui
