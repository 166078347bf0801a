// ModelAnatomyView: the layer stack painting, the parts table and the cache figures.
#include "ui/model_anatomy_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPainter>
#include <QStackedWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>

#include "ui/chart_export.h"
#include "ui/placeholder_stack.h"

namespace gb::ui {

namespace {

QString count(double n) {
    if (n >= 1e9) return QString::number(n / 1e9, 'f', n >= 1e11 ? 0 : 1) + " B";
    if (n >= 1e6) return QString::number(n / 1e6, 'f', 1) + " M";
    if (n >= 1e3) return QString::number(n / 1e3, 'f', 1) + " k";
    return QString::number(n, 'f', 0);
}

QString bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    return QString::number(b, 'f', u ? 1 : 0) + " " + units[u];
}

int64_t part(const ModelAnatomy& a, const char* what, bool active = false) {
    for (const AnatomyPart& p : a.parts)
        if (p.what == what) return active ? p.active : p.params;
    return 0;
}

}  // namespace

// One bar per layer, bottom to top: its feed-forward part (MoE: all experts, the part one token
// uses drawn solid) and its attention, on one linear scale, so a reader sees how much of an MoE
// layer a token never touches.
class LayerStackWidget : public QWidget {
public:
    explicit LayerStackWidget(QWidget* parent) : QWidget(parent) {
        setMinimumHeight(140);
        setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
        setAccessibleName(tr("Layer stack: attention and feed-forward parameters per layer"));
    }
    void set_anatomy(const ModelAnatomy& a) {
        a_ = a;
        update();
    }
    QSize sizeHint() const override { return {420, 170}; }

protected:
    void paintEvent(QPaintEvent*) override {
        QPainter p(this);
        p.fillRect(rect(), palette().base());
        if (a_.n_layer <= 0) return;
        const double attn = static_cast<double>(part(a_, "attention")) / a_.n_layer;
        const double dense =
            a_.n_dense_layers ? static_cast<double>(part(a_, "dense MLP")) / a_.n_dense_layers : 0;
        const int64_t moe_total =
            part(a_, "router") + part(a_, "shared experts") + part(a_, "routed experts");
        const int64_t moe_active = part(a_, "router", true) + part(a_, "shared experts", true) +
                                   part(a_, "routed experts", true);
        const double moe = a_.n_moe_layers ? static_cast<double>(moe_total) / a_.n_moe_layers : 0;
        const double moe_on =
            a_.n_moe_layers ? static_cast<double>(moe_active) / a_.n_moe_layers : 0;
        const double top = attn + std::max(dense, moe);
        const QFontMetricsF fm(font());
        const QRectF area = QRectF(rect()).adjusted(4, 4, -4, -fm.height() - 6);
        const double w = area.width() / static_cast<double>(a_.n_layer);
        const QColor attn_c(90, 120, 200), dense_c(120, 160, 120), moe_c(235, 150, 60);
        QColor moe_idle = moe_c;
        moe_idle.setAlphaF(0.25);
        auto height = [&](double v) {
            return std::max(v > 0 ? 1.5 : 0.0, area.height() * v / top);
        };
        for (int64_t l = 0; l < a_.n_layer; ++l) {
            const bool is_moe = l >= a_.n_dense_layers;
            const double x = area.left() + l * w, bw = std::max(1.0, w - (w > 4 ? 1 : 0));
            double y = area.bottom();
            if (is_moe) {
                const double h_all = height(moe), h_on = height(moe_on);
                p.fillRect(QRectF(x, y - h_all, bw, h_all), moe_idle);
                p.fillRect(QRectF(x, y - h_on, bw, h_on), moe_c);
                y -= h_all;
            } else {
                const double h = height(dense);
                p.fillRect(QRectF(x, y - h, bw, h), dense_c);
                y -= h;
            }
            const double ha = height(attn);
            p.fillRect(QRectF(x, y - ha, bw, ha), attn_c);
        }
        // Legend: a colour swatch before each name.
        p.setPen(palette().text().color());
        double x = 4;
        const double y = area.bottom() + 4, sw = fm.height() * 0.7;
        auto item = [&](const QColor& c, const QString& text) {
            p.fillRect(QRectF(x, y + (fm.height() - sw) / 2, sw, sw), c);
            x += sw + 4;
            p.drawText(QRectF(x, y, fm.horizontalAdvance(text) + 2, fm.height()), Qt::AlignLeft,
                       text);
            x += fm.horizontalAdvance(text) + 12;
        };
        item(attn_c, tr("attention (%1)").arg(QString::fromStdString(a_.attention)));
        if (a_.n_dense_layers) item(dense_c, tr("dense MLP"));
        if (a_.n_moe_layers) {
            item(moe_c, tr("experts a token uses"));
            item(moe_idle, tr("experts it skips"));
        }
    }

private:
    ModelAnatomy a_;
};

ModelAnatomyView::ModelAnatomyView(QWidget* parent) : QWidget(parent) {
    auto* v = new QVBoxLayout(this);
    auto* row = new QHBoxLayout;
    row->addWidget(new QLabel(tr("Show:"), this));
    which_ = new QComboBox(this);
    which_->addItems({tr("The loaded model"), tr("DeepSeek-V3 / R1 (671B, published shapes)")});
    which_->setAccessibleName(tr("Which model's anatomy to show"));
    row->addWidget(which_);
    row->addStretch();
    v->addLayout(row);
    const PlaceholderStack ps = make_placeholder_stack(this, v, tr("Model anatomy"));
    stack_ = ps.stack;
    placeholder_ = ps.placeholder;
    placeholder_->setText(
        tr("No model loaded: open one with Model > Open (Ctrl+O), or choose "
           "DeepSeek-V3 / R1 above."));
    page_ = ps.page;
    auto* pv = ps.page_layout;
    summary_ = ps.summary;
    pv->addWidget(summary_);
    stack_view_ = new LayerStackWidget(page_);
    pv->addWidget(stack_view_, 1);
    add_export_menu(stack_view_, tr("model-anatomy"));
    parts_ = new QTableWidget(page_);
    parts_->setColumnCount(4);
    parts_->setHorizontalHeaderLabels(
        {tr("Part"), tr("Parameters"), tr("Used per token"), tr("Share")});
    parts_->verticalHeader()->hide();
    parts_->horizontalHeader()->setStretchLastSection(true);
    parts_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    parts_->setAccessibleName(tr("Parameters per part of the model"));
    pv->addWidget(parts_, 1);
    cache_ = new QLabel(page_);
    cache_->setWordWrap(true);
    cache_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    cache_->setAccessibleName(tr("KV cache per token and for the context"));
    pv->addWidget(cache_);
    connect(which_, &QComboBox::currentIndexChanged, this,
            [this](int i) { show_reference(i == 1); });
    rebuild();
}

void ModelAnatomyView::set_model(const gb::app::ModelInfo& info) {
    model_ = info;
    rebuild();
}

void ModelAnatomyView::set_context(int64_t n_ctx, int64_t used) {
    n_ctx_ = n_ctx;
    used_ = used;
    rebuild();
}

void ModelAnatomyView::show_reference(bool deepseek) {
    reference_ = deepseek;
    if (which_->currentIndex() != (deepseek ? 1 : 0)) {
        const QSignalBlocker block(which_);
        which_->setCurrentIndex(deepseek ? 1 : 0);
    }
    rebuild();
}

bool ModelAnatomyView::showing_placeholder() const {
    return stack_->currentWidget() == placeholder_;
}
QString ModelAnatomyView::summary_text() const { return summary_->text(); }
QString ModelAnatomyView::cache_text() const { return cache_->text(); }

void ModelAnatomyView::rebuild() {
    shown_ = reference_ ? model_anatomy(deepseek_v3_config()) : model_.anatomy;
    if (shown_.total <= 0) {
        placeholder_->setText(!model_.error.empty() && !model_.path.empty()
                                  ? tr("The model's structure could not be read: %1")
                                        .arg(QString::fromStdString(model_.error))
                                  : tr("No model loaded: open one with Model > Open (Ctrl+O), or "
                                       "choose DeepSeek-V3 / R1 above."));
        stack_->setCurrentWidget(placeholder_);
        return;
    }
    stack_->setCurrentWidget(page_);
    const ModelAnatomy& a = shown_;
    const QString name =
        reference_ ? QString::fromStdString(a.name) : QString::fromStdString(model_.name);
    QString s =
        tr("<b>%1</b> · %2 layers (%3 dense, %4 MoE) · attention: %5<br>"
           "<b>%6 parameters; one token uses %7 (%8%)</b>")
            .arg(name.toHtmlEscaped())
            .arg(a.n_layer)
            .arg(a.n_dense_layers)
            .arg(a.n_moe_layers)
            .arg(QString::fromStdString(a.attention))
            .arg(count(static_cast<double>(a.total)))
            .arg(count(static_cast<double>(a.active)))
            .arg(100.0 * static_cast<double>(a.active) / static_cast<double>(a.total), 0, 'f', 1);
    const int64_t routed = part(a, "routed experts"), routed_on = part(a, "routed experts", true);
    if (routed > 0) {
        const int64_t e_used = model_.n_expert_used, e_all = model_.n_expert;
        const ModelConfig ds = deepseek_v3_config();
        const int64_t used = reference_ ? ds.n_expert_used : e_used;
        const int64_t all = reference_ ? ds.n_expert : e_all;
        s += tr("<br>The routed experts hold %1 of the parameters, but each token goes through %2 "
                "of %3 experts per MoE layer, so it computes with %4 of them: that is why the "
                "model is large and cheap to run.")
                 .arg(count(static_cast<double>(routed)))
                 .arg(used)
                 .arg(all)
                 .arg(count(static_cast<double>(routed_on)));
    }
    summary_->setText(s);
    stack_view_->set_anatomy(a);

    parts_->setRowCount(static_cast<int>(a.parts.size()));
    for (size_t i = 0; i < a.parts.size(); ++i) {
        const AnatomyPart& p = a.parts[i];
        const QString cells[] = {
            QString::fromStdString(p.what), count(static_cast<double>(p.params)),
            count(static_cast<double>(p.active)),
            QString::number(100.0 * static_cast<double>(p.params) / static_cast<double>(a.total),
                            'f', 1) +
                "%"};
        for (int c = 0; c < 4; ++c)
            parts_->setItem(static_cast<int>(i), c, new QTableWidgetItem(cells[c]));
    }
    parts_->resizeColumnsToContents();

    // The cache: 2 bytes per value in F16 for the reference; the loaded model's own figure.
    const double per_token = reference_ ? 2.0 * static_cast<double>(a.kv_values_per_token)
                                        : static_cast<double>(model_.kv_bytes("f16"));
    QString c = tr("<b>KV cache</b>: %1 values per token over all layers = %2 per token in F16")
                    .arg(a.kv_values_per_token)
                    .arg(bytes(per_token));
    if (a.full_kv_values_per_token > a.kv_values_per_token) {
        const double ratio = static_cast<double>(a.full_kv_values_per_token) /
                             static_cast<double>(a.kv_values_per_token);
        c += tr(". MLA caches one compressed latent (and a small rotary key) per layer instead of "
                "every head's keys and values: those would be %1 values, %2 per token, %3 times "
                "as much.")
                 .arg(a.full_kv_values_per_token)
                 .arg(bytes(per_token * ratio))
                 .arg(ratio, 0, 'f', 0);
    } else {
        c += '.';
    }
    const int64_t ctx = reference_ ? int64_t{131072} : n_ctx_;
    if (ctx > 0) {
        c += tr("<br>At a context of %1 tokens the cache takes %2")
                 .arg(ctx)
                 .arg(bytes(per_token * static_cast<double>(ctx)));
        if (a.full_kv_values_per_token > a.kv_values_per_token)
            c += tr(" (a full per-head cache: %1)")
                     .arg(bytes(per_token * static_cast<double>(ctx) *
                                static_cast<double>(a.full_kv_values_per_token) /
                                static_cast<double>(a.kv_values_per_token)));
        if (!reference_)
            c += tr("; this conversation uses %1 of its positions (%2)")
                     .arg(used_)
                     .arg(bytes(per_token * static_cast<double>(used_)));
        c += '.';
    }
    cache_->setText(c);
}

}  // namespace gb::ui
