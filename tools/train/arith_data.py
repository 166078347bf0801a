#!/usr/bin/env python3
"""Arithmetic problems and their worked solutions: the training text of Glassbox's demo models.

A problem is the bare user message (`48213+9077`, `90321-4588`, `742*38`). The reply writes its
working inside <think>...</think> as a school procedure, one line per digit column, then a short
answer whose last integer is the result:

    <think>
    48213+9077, column by column from the right.
    units of 48213 and 9077: 3+7=10, carry 1 → 0
    tens of 4821 and 907: 1+7=8, +1=9 → 90
    ...
    So 48213+9077=57290.
    </think>

    The answer is 57290.

Why this shape: every line needs only local facts (two digits, a carry) and copies of the
previous line, so a small transformer can learn each step. A line starts by restating what is
left of each number (the previous line's numbers without their last digit), so the digits of
the column are the last digits just written: no digit is fetched from far back by counting
places, which is where small models slip (in `65958` the tens and the thousands are both 5).
Multiplication writes one partial product per digit of the multiplier and adds them with the
same column procedure.

In a fraction of the traces one line first states a wrong value, then "Wait, ..." restates it
correctly, so that the model learns to check its own steps (and sampling at temperature shows it
doing so).

Ranges: addition and subtraction of integers up to 5 digits (subtraction with a non-negative
result), multiplication of up to 3 digits by up to 2 digits.
"""
import random

PLACES = ["units", "tens", "hundreds", "thousands", "ten-thousands", "hundred-thousands"]
KINDS = ("add", "sub", "mul")
RANGES = {"add": (5, 5), "sub": (5, 5), "mul": (3, 2)}  # max digits of (a, b)


def rand_digits(rng, n):
    """A uniformly chosen integer with exactly n digits (0..9 for n == 1)."""
    return rng.randint(0, 9) if n == 1 else rng.randint(10 ** (n - 1), 10 ** n - 1)


def draw_problem(rng, kind=None):
    """(kind, a, b): digit counts uniform in their range, so short problems are not rare."""
    kind = kind or rng.choice(KINDS)
    ma, mb = RANGES[kind]
    a, b = rand_digits(rng, rng.randint(1, ma)), rand_digits(rng, rng.randint(1, mb))
    if kind == "sub":
        if rng.random() < 0.15:  # close operands: long runs of zeros and borrows
            b = max(0, a - rng.randint(0, 10 ** rng.randint(0, 3)))
        if a < b:
            a, b = b, a
    return kind, a, b


def problem_text(kind, a, b):
    return f"{a}{'+-*'[KINDS.index(kind)]}{b}"


def answer_of(kind, a, b):
    return a + b if kind == "add" else a - b if kind == "sub" else a * b


class Writer:
    """Builds the reasoning text. A line is made of one or more steps (`expr=value`); the step
    numbered `slip_step` (counted over the whole trace) first states a wrong value, then
    "Wait, " and the step again, correctly. -1: no slip."""

    def __init__(self, rng, slip_step):
        self.rng, self.slip_step, self.n_steps, self.out, self.line = rng, slip_step, 0, [], ""

    def column(self, head, expr, value, tail):
        step = f"{head}{expr}={value}{tail}"
        if self.n_steps == self.slip_step:
            wrong = value + self.rng.choice([-2, -1, 1, 1, 2, 10]) if value >= 2 else value + \
                self.rng.choice([1, 2])
            step = f"{head}{expr}={wrong}. Wait, {expr}={value}{tail}"
        self.n_steps += 1
        self.line += step

    def end_line(self, tail):
        self.out.append(self.line + tail)
        self.line = ""

    def text(self, s):
        self.out.append(s)


def drop_zeros(w, digits):
    """The value of a column result that starts with zeros (`0806` from 7927-7121, `000` from
    305*0), one zero a step ("drop leading zeros: 00512 → 0512 → 512"): each step copies the
    previous string but its first digit, so no step has to skip a counted run of zeros."""
    chain = [digits]
    while len(chain[-1]) > 1 and chain[-1][0] == "0":
        chain.append(chain[-1][1:])
    if len(chain) > 1:
        w.text("drop leading zeros: " + " → ".join(chain))
    return int(digits)


def add_columns(w, a, b):
    """Column addition of a and b; returns the result. A carry is added as a second step, so
    each step is one fact of the addition table."""
    da, db = str(a)[::-1], str(b)[::-1]
    carry, sofar = 0, ""
    for i in range(max(len(da), len(db))):
        x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
        s = x + y + carry
        head = f"{PLACES[i]} of {a // 10 ** i} and {b // 10 ** i}: "
        if carry:
            w.column(head, f"{x}+{y}", x + y, ", ")
            w.column("", "+1", s, "")
        else:
            w.column(head, f"{x}+{y}", s, "")
        carry, sofar = s // 10, str(s % 10) + sofar
        w.end_line((", carry 1" if carry else "") + f" → {sofar}")
    if carry:
        sofar = "1" + sofar
        w.text(f"carry 1 → {sofar}")
    return int(sofar)


def sub_columns(w, a, b):
    """Column subtraction a - b (a >= b); returns the result. A borrow is first taken from the
    top digit ("2-1=1"; a 0 borrows in turn: "0-1, borrow: 10-1=9"), then the digit is compared
    and, if too small, borrows ten ("1-8, borrow: 11-8=3"), so each step is one fact of the
    subtraction table."""
    da, db = str(a)[::-1], str(b)[::-1]
    borrow, sofar = 0, ""
    for i in range(len(da)):
        x, y = int(da[i]), int(db[i]) if i < len(db) else 0
        head = f"{PLACES[i]} of {a // 10 ** i} and {b // 10 ** i}: "
        borrowed = False
        if borrow and x == 0:
            w.column(head + "0-1, borrow: ", "10-1", 9, ", ")
            x, head, borrowed = 9, "", True
        elif borrow:
            w.column(head, f"{x}-1", x - 1, ", ")
            x, head = x - 1, ""
        if x < y:
            r, borrowed = x + 10 - y, True
            w.column(head + f"{x}-{y}, borrow: ", f"1{x}-{y}", r, "")
        else:
            r = x - y
            w.column(head, f"{x}-{y}", r, "")
        borrow = int(borrowed)
        sofar = str(r) + sofar
        w.end_line(f" → {sofar}")
    return drop_zeros(w, sofar)


def mul_partial(w, a, d):
    """a times one digit d, digit by digit; returns the product. The carry is added as a second
    step ("4*8=32, +1=33"), so each step is one fact of a table."""
    da = str(a)[::-1]
    carry, sofar = 0, ""
    for i, ch in enumerate(da):
        p = int(ch) * d
        head = f"{PLACES[i]} of {a // 10 ** i}: "
        if carry:
            w.column(head, f"{ch}*{d}", p, ", ")
            w.column("", f"+{carry}", p + carry, "")
            p += carry
        else:
            w.column(head, f"{ch}*{d}", p, "")
        if i == len(da) - 1:
            sofar = str(p) + sofar
            w.end_line(f" → {sofar}")
        else:
            carry, sofar = p // 10, str(p % 10) + sofar
            w.end_line((f", carry {carry}" if carry else "") + f" → {sofar}")
    return drop_zeros(w, sofar)


def _work(w, kind, a, b):
    p = problem_text(kind, a, b)
    if kind == "add":
        w.text(f"{p}, column by column from the right.")
        r = add_columns(w, a, b)
    elif kind == "sub":
        w.text(f"{p}, column by column from the right.")
        r = sub_columns(w, a, b)
    else:
        digits = str(b)[::-1]
        if len(digits) == 1:
            w.text(f"{p}, digit by digit from the right.")
            r = mul_partial(w, a, b)
        else:
            w.text(f"{p}: multiply {a} by each digit of {b}, then add.")
            parts = []
            for i, ch in enumerate(digits):
                w.text(f"{a}*{ch}" + (", shifted one place:" if i else ":"))
                part = mul_partial(w, a, int(ch))
                if i:
                    part *= 10
                    w.text(f"shifted → {part}")
                parts.append(part)
            w.text(f"{parts[0]}+{parts[1]}:")
            r = add_columns(w, parts[0], parts[1])
    assert r == answer_of(kind, a, b), (kind, a, b, r)
    w.text(f"So {p}={r}.")
    return r


def solution(kind, a, b, rng, slip_rate=0.0):
    """The reasoning (between the think tags, without them) and the answer line."""
    slip = -1
    if rng.random() < slip_rate:
        dry = Writer(rng, -1)
        _work(dry, kind, a, b)
        slip = rng.randrange(dry.n_steps)
    w = Writer(rng, slip)
    r = _work(w, kind, a, b)
    return "\n".join(w.out), f"The answer is {r}."


def sample(rng, slip_rate=0.15, no_think_rate=0.1, kind=None):
    """One training example: (user message, assistant reply text after the template's
    generation prompt, thinking on?)."""
    kind, a, b = draw_problem(rng, kind)
    think, answer = solution(kind, a, b, rng, slip_rate)
    if rng.random() < no_think_rate:
        return problem_text(kind, a, b), answer, False
    return problem_text(kind, a, b), f"<think>\n{think}\n</think>\n\n{answer}", True


if __name__ == "__main__":
    r = random.Random(1)
    for k, a, b in [("sub", 48702, 48190), ("mul", 305, 40), ("sub", 7, 7),
                    ("add", 48213, 9077), ("sub", 90321, 4588), ("mul", 742, 38),
                    ("add", 99999, 1), ("sub", 10000, 9999), ("mul", 7, 5)]:
        print(problem_text(k, a, b))
        t, ans = solution(k, a, b, r, slip_rate=0.3)
        print(t)
        print(ans)
        print()
