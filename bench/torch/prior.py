#!/usr/bin/python3
"""
The PyTorch reference of jukeflow's Transformer prior: the same forward pass as models/transformer.ts
and models/attention.ts (pre-LayerNorm blocks; dense, row, column, previous-row and encoder-decoder
attention, each factorized by reshapes as there; quick-GELU MLP; final LayerNorm; output projection)
and the same loss in bits per token, loading jukeflow's safetensors weights by name; and of a whole
prior (models/prior.ts, conditioning.ts, lyrics-encoder.ts): label and timing embeddings, the
upsampler conditioner, the lyrics encoder and the combined loss. A peer for the parity tests
(test/models/prior-parity.test.ts), never a dependency of jukeflow. Needs Debian's python3-torch:

  /usr/bin/python3 bench/torch/prior.py parity IN_DIR OUT_DIR
  /usr/bin/python3 bench/torch/prior.py bench IN_DIR '{"threads": 2, "repeats": 10, "warmups": 2, "budget": 5}'

IN_DIR holds config.json (a TransformerConfig, or a PriorConfig: one with a "transformer"),
model.safetensors (jukeflow's names; linear weights (Cin, Cout), i.e. nn.Linear's transposed; conv
weights (K, Cin, Cout)) and inputs.safetensors ("tokens" (B, T) int32; for a Transformer
"conditioning" (B, T', W) and "encoder_output" (B, Tctx, We) when the config takes them; for a prior
"upper" (B, Tu) and "lyrics" (B, Tl) int32 when it takes them, and conditions.json: "artist",
"genres" (a list per sequence), "total" and "offset" in seconds). Writes OUT_DIR/out.safetensors
("logits" (B, T, vocab), and "lyric_logits" (B, Tl, characters) for a prior with lyrics) and
OUT_DIR/metrics.json (the loss in bits, its parts, and the global norm of its gradient).

`bench` (bench/prior.ts) reads a prior's IN_DIR as `parity` does, plus train.json (a
TransformerTrainConfig, and "step", the step the optimizer is at), and prints one JSON line: median
seconds of a training step (forward, loss, backward, global-norm clipping, Adam with warm-up, as
models/transformer-train.ts `gradientStep`) and of a forward pass (logits, and lyric logits with
lyrics), at the given thread count, and the loss of the first step (from the weights as written).
"""
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from vqvae import ResidualBlock, blas_library, read_safetensors, residual_dilations, write_safetensors


# ---------------------------------------------------------------------------------------------
# Attention over per-head tensors (B, H, T, dh).


def attention(q, k, v, visible=None):
    """softmax(q k^T / sqrt(dh)) v over the last two axes; `visible` (Tq, Tk) bool hides keys (every row sees one)."""
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-1, -2)
    if visible is not None:
        scores = scores.masked_fill(~visible, float("-inf"))
    return scores.softmax(-1) @ v


def causal(n):
    return torch.ones(n, n, dtype=torch.bool).tril()


def self_attention(kind, q, k, v, block_length):
    """(B, H, T, dh) -> (B, H, T, dh): the sequence padded to whole blocks (B, H, blocks, L, dh), attended, cut back."""
    b, h, length, d = q.shape
    if kind == "dense":
        return attention(q, k, v, causal(length))
    blocks = -(-length // block_length)
    q, k, v = (F.pad(t, (0, 0, 0, blocks * block_length - length)).reshape(b, h, blocks, block_length, d) for t in (q, k, v))
    if kind == "row":
        out = attention(q, k, v, causal(block_length))
    elif kind == "column":
        out = attention(q.transpose(2, 3), k.transpose(2, 3), v.transpose(2, 3), causal(blocks)).transpose(2, 3)
    elif kind == "previous-row":
        # each block's keys and values replaced by the previous block's; zeros for the first (its output is then 0)
        k, v = (F.pad(t, (0, 0, 0, 0, 1, 0))[:, :, :blocks] for t in (k, v))
        out = attention(q, k, v)
    else:
        raise ValueError(f"unknown attention kind {kind}")
    return out.reshape(b, h, blocks * block_length, d)[:, :, :length]


def split_heads(x, heads):
    """(B, T, A) -> (B, H, T, A/H): head h is columns h.dh ... (h + 1).dh - 1."""
    b, t, a = x.shape
    return x.reshape(b, t, heads, a // heads).transpose(1, 2)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H.dh)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


# ---------------------------------------------------------------------------------------------
# Modules, named so that state_dict() names are jukeflow's weight names (models/transformer.ts).


def attention_width(c):
    return round(c["attentionMultiplier"] * c["width"])


def layer_types(c):
    return [c["pattern"][i % len(c["pattern"])] for i in range(c["depth"])]


class SelfAttention(nn.Module):
    def __init__(self, c, kind):
        super().__init__()
        self.kind, self.heads, self.block_length = kind, c["heads"], c["blockLength"]
        self.qkv = nn.Linear(c["width"], 3 * attention_width(c))
        self.out = nn.Linear(attention_width(c), c["width"])

    def forward(self, x, encoder_output):
        q, k, v = (split_heads(t, self.heads) for t in self.qkv(x).chunk(3, dim=-1))
        return self.out(merge_heads(self_attention(self.kind, q, k, v, self.block_length)))


class EncoderDecoderAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c["heads"]
        self.q = nn.Linear(c["width"], attention_width(c))
        self.kv = nn.Linear(c["encoderWidth"], 2 * attention_width(c))
        self.out = nn.Linear(attention_width(c), c["width"])

    def forward(self, x, encoder_output):
        k, v = (split_heads(t, self.heads) for t in self.kv(encoder_output).chunk(2, dim=-1))
        return self.out(merge_heads(attention(split_heads(self.q(x), self.heads), k, v)))


class MLP(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.fc = nn.Linear(width, hidden)
        self.proj = nn.Linear(hidden, width)

    def forward(self, x):
        h = self.fc(x)
        return self.proj(h * torch.sigmoid(1.702 * h))  # quick GELU


class Block(nn.Module):
    """x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, c, kind):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c["width"], eps=1e-5)
        self.attn = EncoderDecoderAttention(c) if kind == "encoder-decoder" else SelfAttention(c, kind)
        self.ln_2 = nn.LayerNorm(c["width"], eps=1e-5)
        self.mlp = MLP(c["width"], round(c["mlpMultiplier"] * c["width"]))

    def forward(self, x, encoder_output):
        x = x + self.attn(self.ln_1(x), encoder_output)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        w = c["width"]
        self.token_embedding = nn.Embedding(c["vocab"], w)
        self.start_embedding = nn.Parameter(torch.zeros(w))
        self.position_embedding = nn.Parameter(torch.zeros(c["contextLength"], w))
        self.blocks = nn.ModuleList([Block(c, kind) for kind in layer_types(c)])
        self.ln_f = nn.LayerNorm(w, eps=1e-5)
        self.head = nn.Linear(w, c["vocab"], bias=False)

    def hidden(self, tokens, conditioning=None, encoder_output=None):
        """tokens (B, T) -> the final LayerNorm's output (B, T, W); position t sees the start embedding and tokens 0 ... t - 1."""
        b, t = tokens.shape
        start = self.start_embedding.expand(b, 1, -1)
        x = torch.cat([start, self.token_embedding(tokens[:, :-1])], 1) + self.position_embedding[:t]  # (B, T, W)
        if conditioning is not None:
            x = x + conditioning[:, :t]
        for block in self.blocks:
            x = block(x, encoder_output)
        return self.ln_f(x)

    def forward(self, tokens, conditioning=None, encoder_output=None):
        """tokens (B, T) -> logits (B, T, vocab)."""
        return self.head(self.hidden(tokens, conditioning, encoder_output))


def load_jukeflow(model, tensors):
    """Loads jukeflow's weights into `model`: (Cin, Cout) linear weights are nn.Linear's transposed,
    (K, Cin, Cout) conv weights Conv1d's permute(2, 1, 0) and ConvTranspose1d's permute(1, 2, 0)."""
    layouts = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            layouts[f"{name}.weight"] = lambda t: t.t()
        elif isinstance(m, nn.ConvTranspose1d):
            layouts[f"{name}.weight"] = lambda t: t.permute(1, 2, 0)
        elif isinstance(m, nn.Conv1d):
            layouts[f"{name}.weight"] = lambda t: t.permute(2, 1, 0)
    state = {}
    for name, ours in model.state_dict().items():
        if name not in tensors:
            raise KeyError(f"model.safetensors has no tensor named {name}")
        t = layouts.get(name, lambda t: t)(tensors[name])
        if tuple(t.shape) != tuple(ours.shape):
            raise ValueError(f"{name}: {tuple(t.shape)} in the file, the model needs {tuple(ours.shape)}")
        state[name] = t.contiguous()
    extra = set(tensors) - set(state)
    if extra:
        raise KeyError(f"model.safetensors has tensors the model lacks: {sorted(extra)}")
    model.load_state_dict(state)


# ---------------------------------------------------------------------------------------------
# A whole prior (models/prior.ts): its conditioners (models/conditioning.ts) and lyrics encoder.


class Labels(nn.Module):
    """artist embedding + the sum of the genre embeddings, genre 0 left out: (B,), (B, G) -> (B, W)."""

    def __init__(self, c, width):
        super().__init__()
        self.artist = nn.Embedding(c["artists"], width)
        self.genre = nn.Embedding(c["genres"], width)

    def forward(self, artist, genres):
        return self.artist(artist) + (self.genre(genres) * (genres > 0).unsqueeze(-1).float()).sum(1)


def bucket(x, low, high, bins):
    """The reference's RangeEmbedding bins of [low, high), values outside clamped to the end bins (float64, as jukeflow)."""
    return torch.floor(bins * (x - low) / (high - low)).clamp(0, bins - 1).long()


class Timing(nn.Module):
    """Song length, time of each position and fraction elapsed, each bucketed and embedded: -> (B, T, W)."""

    def __init__(self, c, width):
        super().__init__()
        self.c = c
        self.total = nn.Embedding(c["bins"], width)
        self.time = nn.Embedding(c["bins"], width)
        self.fraction = nn.Embedding(c["bins"], width)

    def forward(self, total, offset, length, seconds_per_token):
        c = self.c
        times = offset[:, None] + torch.arange(length, dtype=torch.float64) * seconds_per_token  # (B, T) seconds
        return (self.total(bucket(total, c["minSeconds"], c["maxSeconds"], c["bins"]))[:, None]
                + self.time(bucket(times, 0, c["maxSeconds"], c["bins"]))
                + self.fraction(bucket(times / total[:, None], 0, 1, c["bins"])))


class ConditionerStage(nn.Module):
    """residual stack -> transposed conv (kernel 2s, stride s): (B, Wc, T) -> (B, out, T.s)."""

    def __init__(self, c, stride, out_channels):
        super().__init__()
        self.res = nn.Sequential(*[ResidualBlock(c["width"], c["width"], d) for d in residual_dilations(c)])
        self.up = nn.ConvTranspose1d(c["width"], out_channels, 2 * stride, stride=stride, padding=stride // 2)

    def forward(self, x):
        return self.up(self.res(x))


class Conditioner(nn.Module):
    """Upper codes (B, Tu) -> embedding -> conv3 -> stages -> LayerNorm: (B, Tu.ratio, W)."""

    def __init__(self, c, width):
        super().__init__()
        self.embedding = nn.Embedding(c["upperVocab"], width)
        self.add_module("in", nn.Conv1d(width, c["width"], 3, padding=1))  # `in` is a Python keyword
        last = len(c["strides"]) - 1
        self.blocks = nn.ModuleList([ConditionerStage(c, s, width if i == last else c["width"]) for i, s in enumerate(c["strides"])])
        self.ln = nn.LayerNorm(width, eps=1e-5)

    def forward(self, upper):
        x = getattr(self, "in")(self.embedding(upper).transpose(1, 2))  # (B, Wc, Tu)
        for stage in self.blocks:
            x = stage(x)
        return self.ln(x.transpose(1, 2))


class Prior(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        width = c["transformer"]["width"]
        self.prior = Transformer(c["transformer"])
        if c.get("labels"):
            self.labels = Labels(c["labels"], width)
        if c.get("timing"):
            self.timing = Timing(c["timing"], width)
        if c.get("upsampler"):
            self.conditioner = Conditioner(c["upsampler"], width)
        if c.get("lyrics"):
            self.lyrics_encoder = Transformer(c["lyrics"]["encoder"])

    def forward(self, tokens, conditions, upper=None, lyrics=None):
        """-> logits (B, T, vocab), and lyric logits (B, Tl, characters) or None."""
        conditioning, states, lyric_logits = self.condition(conditions, tokens.shape[1], upper, lyrics)
        return self.prior(tokens.long(), conditioning, states), lyric_logits

    def condition(self, conditions, t, upper=None, lyrics=None):
        """The Transformer's inputs over t positions: (conditioning (B, t, W) or None, lyric states (B, Tl, We) or None, lyric logits or None)."""
        c = self.c
        parts = []
        if c.get("labels"):
            bag = max(1, *map(len, conditions["genres"]))
            genres = torch.tensor([g + [0] * (bag - len(g)) for g in conditions["genres"]])
            start = self.labels(torch.tensor(conditions["artist"]), genres)  # (B, W)
            parts.append(F.pad(start[:, None], (0, 0, 0, t - 1)))  # row 0 of (B, T, W)
        if c.get("timing"):
            total, offset = (torch.tensor(conditions[k], dtype=torch.float64) for k in ("total", "offset"))
            parts.append(self.timing(total, offset, t, c["hopLength"] / c["sampleRate"]))
        if c.get("upsampler"):
            parts.append(self.conditioner(upper.long())[:, :t])
        conditioning = sum(parts) if parts else None
        states, lyric_logits = None, None
        if c.get("lyrics"):
            states = self.lyrics_encoder.hidden(lyrics.long())
            lyric_logits = self.lyrics_encoder.head(states)
        return conditioning, states, lyric_logits

    def losses(self, tokens, lyrics, logits, lyric_logits):
        """(total, prior bits/token, lyric bits per known character or None), as models/prior.ts."""
        prior = bits_per_token(logits, tokens)
        if lyric_logits is None:
            return prior, prior, None
        nats = F.cross_entropy(lyric_logits.reshape(-1, lyric_logits.shape[-1]), lyrics.reshape(-1).long(), reduction="none")
        known = (lyrics.reshape(-1) > 0).float()
        lyric = (nats * known).sum() / known.sum().clamp(min=1) / math.log(2)
        t, tl = tokens.shape[1], lyrics.shape[1]
        return (t * prior + self.c["lyrics"]["lossFraction"] * tl * lyric) / (t + tl), prior, lyric


def bits_per_token(logits, tokens):
    """Mean next-token cross-entropy in bits."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1).long()) / math.log(2)


# ---------------------------------------------------------------------------------------------
# Command line.


def parity(in_dir, out_dir):
    with open(os.path.join(in_dir, "config.json")) as f:
        config = json.load(f)
    weights = read_safetensors(os.path.join(in_dir, "model.safetensors"))
    inputs = read_safetensors(os.path.join(in_dir, "inputs.safetensors"))
    tokens = inputs["tokens"]
    figures = {}
    if "transformer" in config:
        with open(os.path.join(in_dir, "conditions.json")) as f:
            conditions = json.load(f)
        model = Prior(config)
        load_jukeflow(model, weights)
        logits, lyric_logits = model(tokens, conditions, inputs.get("upper"), inputs.get("lyrics"))
        loss, prior, lyric = model.losses(tokens, inputs.get("lyrics"), logits, lyric_logits)
        figures["priorBits"] = float(prior)
        outputs = {"logits": logits.detach()}
        if lyric is not None:
            figures["lyricsBits"] = float(lyric)
            outputs["lyric_logits"] = lyric_logits.detach()
    else:
        model = Transformer(config)
        load_jukeflow(model, weights)
        logits = model(tokens, inputs.get("conditioning"), inputs.get("encoder_output"))
        loss = bits_per_token(logits, tokens)
        outputs = {"logits": logits.detach()}
    loss.backward()
    norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters() if p.grad is not None))
    write_safetensors(os.path.join(out_dir, "out.safetensors"), outputs)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump({"loss": float(loss), "gradientNorm": norm, **figures}, f)


class PriorTrainer:
    """models/transformer-train.ts `gradientStep` on a whole prior: the loss in bits, its gradients,
    global-norm clipping, Adam with linear warm-up (the same constants)."""

    def __init__(self, model, train):
        self.model, self.train, self.step = model, train, train.get("step", 0)
        adam = train["adam"]
        self.parameters = list(model.parameters())
        self.optimizer = torch.optim.Adam(self.parameters, lr=train["learningRate"], betas=(adam["beta1"], adam["beta2"]), eps=adam["epsilon"])

    def train_step(self, tokens, conditions, upper, lyrics):
        """One step on one batch; returns (loss in bits, gradient norm before clipping)."""
        model, t = self.model, self.train
        logits, lyric_logits = model(tokens, conditions, upper, lyrics)
        loss, _, _ = model.losses(tokens, lyrics, logits, lyric_logits)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(self.parameters, t["clipNorm"]))
        learning_rate = t["learningRate"] * min(1, (self.step + 1) / max(1, t["warmupSteps"]))
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        self.optimizer.step()
        self.step += 1
        return float(loss), norm


def bench(in_dir, args):
    """
    Median seconds of a training step and of a forward pass of the prior in IN_DIR on its batch,
    after warm-ups: `repeats` runs, or fewer (3 at least) once they have taken `budget` seconds, so
    that a thread count that a busy machine makes very slow does not stall the benchmark.
    """
    threads, repeats, warmups, budget = args["threads"], args.get("repeats", 10), args.get("warmups", 2), args.get("budget", 5)
    torch.set_num_threads(threads)
    with open(os.path.join(in_dir, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(in_dir, "train.json")) as f:
        train = json.load(f)
    conditions = {}
    if os.path.exists(os.path.join(in_dir, "conditions.json")):
        with open(os.path.join(in_dir, "conditions.json")) as f:
            conditions = json.load(f)
    model = Prior(config)
    load_jukeflow(model, read_safetensors(os.path.join(in_dir, "model.safetensors")))
    inputs = read_safetensors(os.path.join(in_dir, "inputs.safetensors"))
    tokens, upper, lyrics = inputs["tokens"], inputs.get("upper"), inputs.get("lyrics")
    trainer = PriorTrainer(model, train)
    first = {}

    def train_step():
        loss, norm = trainer.train_step(tokens, conditions, upper, lyrics)
        first.setdefault("loss", loss)
        first.setdefault("gradientNorm", norm)

    def forward():
        with torch.no_grad():
            model(tokens, conditions, upper, lyrics)

    runs = {}

    def timed(name, once):
        for _ in range(warmups):
            once()
        times = []
        while len(times) < repeats and (len(times) < 3 or sum(times) < budget):
            start = time.perf_counter()
            once()
            times.append(time.perf_counter() - start)
        runs[name] = len(times)
        return statistics.median(times)

    seconds = {"train": timed("train", train_step), "forward": timed("forward", forward)}
    result = {"threads": torch.get_num_threads(), "blas": blas_library(), "torch": torch.__version__, **seconds, "runs": runs, "firstStep": first}
    print(json.dumps(result))


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "parity" and len(sys.argv) == 4:
        parity(sys.argv[2], sys.argv[3])
    elif command == "bench" and len(sys.argv) == 4:
        bench(sys.argv[2], json.loads(sys.argv[3]))
    else:
        sys.exit(__doc__)
