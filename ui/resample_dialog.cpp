// ResampleDialog: settings with a cost estimate, progress, the answers and rollouts, and the
// resamplings kept with the reply as a list and a share-by-position chart.
#include "ui/resample_dialog.h"

#include <QChart>
#include <QChartView>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QProgressBar>
#include <QPushButton>
#include <QScatterSeries>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>
#include <climits>

#include "ui/chart_export.h"
#include "ui/token_flow_view.h"

namespace gb::ui {

namespace {

QTableWidget* make_table(const QStringList& headers, const QString& name, QWidget* parent) {
    auto* t = new QTableWidget(parent);
    t->setColumnCount(static_cast<int>(headers.size()));
    t->setHorizontalHeaderLabels(headers);
    t->horizontalHeader()->setStretchLastSection(true);
    t->verticalHeader()->hide();
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setSelectionMode(QAbstractItemView::SingleSelection);
    t->setAccessibleName(name);
    return t;
}

QString answer_shown(const std::string& a) {
    return a.empty() ? QObject::tr("(no answer)") : QString::fromStdString(a);
}

QString percent(double share) { return QString::number(100.0 * share, 'f', 0) + "%"; }

}  // namespace

ResampleDialog::ResampleDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Resample from a token"));
    resize(820, 720);
    auto* v = new QVBoxLayout(this);
    status_ = new QLabel(this);
    status_->setWordWrap(true);
    v->addWidget(status_);

    auto* form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::FieldsStayAtSizeHint);
    k_ = new QSpinBox(this);
    k_->setRange(1, 1000);
    k_->setValue(8);
    k_->setAccessibleName(tr("Number of rollouts"));
    form->addRow(tr("Rollouts:"), k_);
    temp_ = new QDoubleSpinBox(this);
    temp_->setRange(0.05, 2.0);
    temp_->setSingleStep(0.1);
    temp_->setDecimals(2);
    temp_->setAccessibleName(tr("Rollout temperature"));
    form->addRow(tr("Temperature:"), temp_);
    max_new_ = new QSpinBox(this);
    max_new_->setRange(1, 1 << 20);
    max_new_->setAccessibleName(tr("Most tokens per rollout"));
    form->addRow(tr("Tokens per rollout, at most:"), max_new_);
    seed_ = new QSpinBox(this);
    seed_->setRange(0, INT_MAX);
    seed_->setAccessibleName(tr("Seed of the first rollout"));
    seed_->setToolTip(
        tr("Rollout i samples with this seed + i: the same seeds at every position compare the "
           "positions on the same random numbers"));
    form->addRow(tr("First seed:"), seed_);
    expected_ = new QLineEdit(this);
    expected_->setMinimumWidth(260);
    expected_->setAccessibleName(tr("Expected answer"));
    expected_->setToolTip(tr("The right answer when you know it; else the reply's own is counted"));
    form->addRow(tr("Expected answer:"), expected_);
    v->addLayout(form);

    estimate_ = new QLabel(this);
    estimate_->setWordWrap(true);
    estimate_->setAccessibleName(tr("Cost estimate"));
    v->addWidget(estimate_);
    auto* run_row = new QHBoxLayout;
    progress_ = new QProgressBar(this);
    progress_->setAccessibleName(tr("Rollouts done"));
    progress_->setFormat(tr("%v of %m rollouts"));
    progress_->setValue(0);
    run_row->addWidget(progress_, 1);
    start_ = new QPushButton(tr("Start"), this);
    start_->setAccessibleName(tr("Start or stop the rollouts"));
    run_row->addWidget(start_);
    v->addLayout(run_row);
    connect(start_, &QPushButton::clicked, this, [this] {
        if (running_)
            emit stopRequested();
        else if (trace_)
            emit startRequested(options());
    });
    for (QSpinBox* b : {k_, max_new_})
        connect(b, &QSpinBox::valueChanged, this, [this] { update_estimate(); });

    result_ = new QLabel(this);
    result_->setWordWrap(true);
    result_->setAccessibleName(tr("Resampling result"));
    v->addWidget(result_);

    auto* split = new QSplitter(Qt::Vertical, this);
    auto* tables = new QSplitter(Qt::Horizontal, split);
    answers_ = make_table({tr("answer"), tr("rollouts"), tr("share")}, tr("Final answers"), tables);
    rollouts_ = make_table({tr("seed"), tr("answer"), tr("tokens"), tr("stop")}, tr("Each rollout"),
                           tables);
    auto* lower = new QWidget(split);
    auto* lv = new QVBoxLayout(lower);
    lv->setContentsMargins(0, 0, 0, 0);
    lv->addWidget(new QLabel(tr("Resamplings kept with this reply, by position:"), lower));
    auto* low_split = new QSplitter(Qt::Horizontal, lower);
    earlier_ = make_table({tr("position"), tr("token"), tr("rollouts"), tr("share"), tr("when")},
                          tr("Resamplings of this reply"), low_split);
    connect(earlier_, &QTableWidget::currentCellChanged, this,
            [this](int row) { show_stored(row); });

    auto* chart = new QChart;
    chart->setTitle(tr("Share of the answer by position"));
    chart->legend()->hide();
    chart->setMargins(QMargins(4, 4, 4, 4));
    line_ = new QLineSeries;
    dots_ = new QScatterSeries;
    dots_->setMarkerSize(8);
    chart->addSeries(line_);
    chart->addSeries(dots_);
    x_axis_ = new QValueAxis;
    x_axis_->setTitleText(tr("generated position"));
    x_axis_->setLabelFormat("%d");
    auto* y_axis = new QValueAxis;
    y_axis->setRange(0, 1);
    y_axis->setTickCount(5);
    y_axis->setLabelFormat("%.2f");
    chart->addAxis(x_axis_, Qt::AlignBottom);
    chart->addAxis(y_axis, Qt::AlignLeft);
    for (QXYSeries* s : {static_cast<QXYSeries*>(line_), static_cast<QXYSeries*>(dots_)}) {
        s->attachAxis(x_axis_);
        s->attachAxis(y_axis);
    }
    chart_view_ = new QChartView(chart, low_split);
    chart_view_->setRenderHint(QPainter::Antialiasing);
    chart_view_->setMinimumHeight(180);
    chart_view_->setMinimumWidth(320);
    low_split->setStretchFactor(0, 1);
    low_split->setStretchFactor(1, 1);
    chart_view_->setAccessibleName(tr("Share of the answer by position"));
    add_export_menu(chart_view_, tr("resampling"));
    lv->addWidget(low_split, 1);
    remove_ = new QPushButton(tr("Delete this resampling"), lower);
    remove_->setAccessibleName(tr("Delete the selected resampling"));
    remove_->setEnabled(false);
    connect(remove_, &QPushButton::clicked, this, [this] {
        const int row = earlier_->currentRow();
        if (row >= 0 && row < static_cast<int>(earlier_rows_.size()))
            emit removeRequested(earlier_rows_[static_cast<size_t>(row)].id);
    });
    lv->addWidget(remove_, 0, Qt::AlignLeft);
    v->addWidget(split, 1);
    set_running(false);
}

void ResampleDialog::set_target(qint64 message_id, std::shared_ptr<const Trace> trace, int at,
                                const std::vector<gb::app::StoredResampling>& earlier) {
    message_id_ = message_id;
    trace_ = std::move(trace);
    at_ = at;
    const Trace& t = *trace_;
    const size_t here = static_cast<size_t>(t.n_prompt + at);
    const QString token =
        here < t.tokens.size() ? token_display(t.tokens[here].text) : tr("(the end)");
    const std::string own = final_answer(t.answer_text);
    status_->setText(
        tr("Resample this reply from generated token %1 “%2”: keep the %1 tokens before it, "
           "sample afresh from there in each rollout, and count the final answers (the last "
           "number of each answer). The reply's own answer: %3.")
            .arg(at)
            .arg(token)
            .arg(answer_shown(own)));
    temp_->setValue(t.sampling.greedy() ? 0.8 : static_cast<double>(t.sampling.temperature));
    temp_->setToolTip(t.sampling.greedy()
                          ? tr("The reply was greedy, where every rollout would be the same: "
                               "0.8 is used unless you choose")
                          : tr("The reply's own temperature unless you choose"));
    // Room for as many tokens as the reply wrote after the position, and some to spare.
    max_new_->setValue(std::max(32, (t.n_gen - at) * 3 / 2));
    seed_->setValue(static_cast<int>(std::min<uint64_t>(t.sampling.seed + 1, INT_MAX)));
    expected_->clear();
    expected_->setPlaceholderText(tr("the reply's own: %1").arg(answer_shown(own)));
    result_->clear();
    answers_->setRowCount(0);
    rollouts_->setRowCount(0);
    progress_->setRange(0, k_->value());
    progress_->setValue(0);
    x_axis_->setRange(0, std::max(1, t.n_gen));
    set_earlier(earlier);
    update_estimate();
}

void ResampleDialog::update_estimate() {
    if (!trace_) return;
    const double ms = resample_estimate_ms(*trace_, at_, k_->value(), max_new_->value());
    const double tps = trace_->decode_ms > 0 ? 1000.0 * trace_->n_gen / trace_->decode_ms : 0.0;
    const int each = std::min(max_new_->value(), std::max(1, trace_->n_gen - at_));
    estimate_->setText(tr("About %1 s: %2 rollouts of about %3 tokens each at this reply's "
                          "decode speed (%4 tokens/s); a rollout that wanders writes up to %5.")
                           .arg(ms / 1000.0, 0, 'f', ms < 10000 ? 1 : 0)
                           .arg(k_->value())
                           .arg(each)
                           .arg(tps, 0, 'f', 0)
                           .arg(max_new_->value()));
}

gb::ResampleOptions ResampleDialog::options() const {
    gb::ResampleOptions o;
    o.k = k_->value();
    o.max_new = max_new_->value();
    o.temperature = static_cast<float>(temp_->value());
    o.first_seed = static_cast<uint64_t>(seed_->value());
    o.expected = expected_->text().trimmed().toStdString();
    return o;
}

void ResampleDialog::set_running(bool running) {
    running_ = running;
    start_->setText(running ? tr("Stop") : tr("Start"));
    for (QWidget* w : std::initializer_list<QWidget*>{k_, temp_, max_new_, seed_, expected_})
        w->setEnabled(!running);
    if (running) {
        progress_->setRange(0, k_->value());
        progress_->setValue(0);
        result_->setText(tr("Running the rollouts… (Stop keeps the ones done)"));
    }
}

void ResampleDialog::set_progress(int done, int k) {
    progress_->setRange(0, k);
    progress_->setValue(done);
}

void ResampleDialog::set_error(const QString& error) {
    set_running(false);
    result_->setText(tr("The rollouts could not run: %1").arg(error));
}

void ResampleDialog::show_result(const gb::ResampleResult& r, qint64 stored_id) {
    const std::string& want = r.expected.empty() ? r.original_answer : r.expected;
    const int n = static_cast<int>(r.rollouts.size());
    int hits = 0;
    for (const Rollout& ro : r.rollouts) hits += ro.answer == want;
    QString text =
        n == 0 ? tr("No rollout finished.")
               : tr("%1 of %2 rollouts (%3) give %4 %5, from position %6 at temperature %7, in "
                    "%8 s.")
                     .arg(hits)
                     .arg(n)
                     .arg(percent(r.share))
                     .arg(r.expected.empty() ? tr("the reply's answer") : tr("the expected answer"))
                     .arg(answer_shown(want))
                     .arg(r.at)
                     .arg(static_cast<double>(r.temperature), 0, 'g', 3)
                     .arg(r.ms / 1000.0, 0, 'f', 1);
    if (n > 0 && n < r.k) text += " " + tr("Stopped after %1 of %2 rollouts.").arg(n).arg(r.k);
    if (n > 0 && stored_id == 0) text += " " + tr("Not kept with the reply.");
    result_->setText(text);
    answers_->setRowCount(static_cast<int>(r.answers.size()));
    for (size_t i = 0; i < r.answers.size(); ++i) {
        const AnswerCount& c = r.answers[i];
        const int row = static_cast<int>(i);
        auto* a = new QTableWidgetItem(answer_shown(c.answer));
        if (c.answer == want) a->setText(a->text() + "  ✓");
        answers_->setItem(row, 0, a);
        answers_->setItem(row, 1, new QTableWidgetItem(QString::number(c.count)));
        answers_->setItem(row, 2, new QTableWidgetItem(percent(c.share)));
    }
    rollouts_->setRowCount(n);
    for (int i = 0; i < n; ++i) {
        const Rollout& ro = r.rollouts[static_cast<size_t>(i)];
        rollouts_->setItem(i, 0, new QTableWidgetItem(QString::number(ro.seed)));
        rollouts_->setItem(i, 1, new QTableWidgetItem(answer_shown(ro.answer)));
        rollouts_->setItem(i, 2, new QTableWidgetItem(QString::number(ro.tokens)));
        rollouts_->setItem(i, 3,
                           new QTableWidgetItem(QString::fromUtf8(stop_reason_name(ro.stop))));
    }
    if (stored_id != 0) {
        for (size_t i = 0; i < earlier_rows_.size(); ++i)
            if (earlier_rows_[i].id == stored_id) {
                QSignalBlocker block(earlier_);
                earlier_->selectRow(static_cast<int>(i));
                remove_->setEnabled(true);
            }
    }
}

void ResampleDialog::set_earlier(const std::vector<gb::app::StoredResampling>& earlier) {
    earlier_rows_ = earlier;
    QSignalBlocker block(earlier_);
    earlier_->setRowCount(static_cast<int>(earlier.size()));
    line_->clear();
    dots_->clear();
    for (size_t i = 0; i < earlier.size(); ++i) {
        const gb::app::StoredResampling& s = earlier[i];
        const int row = static_cast<int>(i);
        QString token, share = tr("(unreadable)");
        double value = -1;
        try {
            const ResampleResult r = resampling_from_json(s.result_json);
            token = token_display(r.token);
            share = percent(r.share) + (r.expected.empty() ? tr(" same") : tr(" expected"));
            value = r.share;
        } catch (const std::exception&) {
        }
        earlier_->setItem(row, 0, new QTableWidgetItem(QString::number(s.at)));
        earlier_->setItem(row, 1, new QTableWidgetItem(token));
        earlier_->setItem(row, 2, new QTableWidgetItem(QString::number(s.k)));
        earlier_->setItem(row, 3, new QTableWidgetItem(share));
        earlier_->setItem(
            row, 4,
            new QTableWidgetItem(
                QDateTime::fromMSecsSinceEpoch(s.created_ms).toString("MM-dd hh:mm")));
        if (value >= 0) {
            line_->append(s.at, value);
            dots_->append(s.at, value);
        }
    }
    earlier_->clearSelection();
    remove_->setEnabled(false);
}

std::vector<std::pair<int, double>> ResampleDialog::chart_points() const {
    std::vector<std::pair<int, double>> out;
    for (const QPointF& p : dots_->points()) out.emplace_back(static_cast<int>(p.x()), p.y());
    return out;
}

void ResampleDialog::show_stored(int row) {
    remove_->setEnabled(row >= 0 && row < static_cast<int>(earlier_rows_.size()));
    if (!remove_->isEnabled()) return;
    try {
        show_result(resampling_from_json(earlier_rows_[static_cast<size_t>(row)].result_json),
                    earlier_rows_[static_cast<size_t>(row)].id);
    } catch (const std::exception& e) {
        result_->setText(tr("This resampling could not be read: %1").arg(e.what()));
    }
}

QString ResampleDialog::status_text() const { return status_->text(); }
QString ResampleDialog::estimate_text() const { return estimate_->text(); }
QString ResampleDialog::result_text() const { return result_->text(); }

}  // namespace gb::ui
