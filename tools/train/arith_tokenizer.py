"""The demo models' vocabulary and chat template: a small byte-level BPE trained on the task text.

The pre-tokenizer is Qwen2's (one digit per piece, words with their leading space), so every
digit is its own token and the GGUF names it `qwen2`, a pre-tokenizer llama.cpp knows too. The
turn markers are DeepSeek-R1's; <think> and </think> are added tokens that stay visible text, as
in Qwen3 and DeepSeek-R1.
"""
import jinja2
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers import trainers

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
USER, ASSISTANT = "<｜User｜>", "<｜Assistant｜>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
SPECIAL = [BOS, EOS, USER, ASSISTANT]

QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# DeepSeek-R1's turn layout. A past assistant turn keeps only its answer (the reasoning is not
# fed back), and enable_thinking=false pre-fills an empty reasoning block, as Qwen3 does.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}<｜User｜>{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}<｜Assistant｜>"
    "{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1].lstrip() %}"
    "{% endif %}{{ content }}<｜end▁of▁sentence｜>"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<｜Assistant｜>"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}")


def render_prompt(user, thinking=True):
    """The prompt text for one user turn, rendered by Python's jinja2 as transformers does."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    args = dict(messages=[{"role": "user", "content": user}], add_generation_prompt=True,
                bos_token=BOS, eos_token=EOS)
    if not thinking:
        args["enable_thinking"] = False
    return env.from_string(CHAT_TEMPLATE).render(**args)


def train_tokenizer(texts, vocab_size):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  min_frequency=50, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.add_tokens([THINK_OPEN, THINK_CLOSE])
    return tok


def tokenizer_config(model_max_length):
    """tokenizer_config.json: the chat template and the special tokens by role."""
    return {"bos_token": BOS, "eos_token": EOS, "pad_token": EOS, "add_bos_token": False,
            "add_eos_token": False, "model_max_length": model_max_length,
            "chat_template": CHAT_TEMPLATE, "tokenizer_class": "PreTrainedTokenizerFast"}
