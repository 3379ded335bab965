#!/usr/bin/python3
"""
The PyTorch reference of jukeflow's Transformer prior: the same forward pass as models/transformer.ts
and models/attention.ts (pre-LayerNorm blocks; dense, row, column, previous-row and encoder-decoder
attention, each factorized by reshapes as there; quick-GELU MLP; final LayerNorm; output projection)
and the same loss in bits per token, loading jukeflow's safetensors weights by name. A peer for the
parity test (test/models/prior-parity.test.ts), never a dependency of jukeflow. Needs Debian's
python3-torch:

  /usr/bin/python3 bench/torch/prior.py parity IN_DIR OUT_DIR

IN_DIR holds config.json (a TransformerConfig), model.safetensors (jukeflow's names; linear weights
(Cin, Cout), i.e. nn.Linear's transposed) and inputs.safetensors ("tokens" (B, T) int32, and
"conditioning" (B, T', W) and "encoder_output" (B, Tctx, We) when the config takes them). Writes
OUT_DIR/out.safetensors ("logits" (B, T, vocab)) and OUT_DIR/metrics.json (the loss in bits per
token and the global norm of its gradient).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from vqvae import read_safetensors, write_safetensors


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

    def forward(self, tokens, conditioning=None, encoder_output=None):
        """tokens (B, T) -> logits (B, T, vocab); position t sees the start embedding and tokens 0 ... t - 1."""
        b, t = tokens.shape
        start = self.start_embedding.expand(b, 1, -1)
        x = torch.cat([start, self.token_embedding(tokens[:, :-1])], 1) + self.position_embedding[:t]  # (B, T, W)
        if conditioning is not None:
            x = x + conditioning[:, :t]
        for block in self.blocks:
            x = block(x, encoder_output)
        return self.head(self.ln_f(x))

    def load_jukeflow(self, tensors):
        """Loads jukeflow's weights: its (Cin, Cout) linear weights are nn.Linear's transposed."""
        linear = {f"{name}.weight" for name, m in self.named_modules() if isinstance(m, nn.Linear)}
        state = {}
        for name, ours in self.state_dict().items():
            if name not in tensors:
                raise KeyError(f"model.safetensors has no tensor named {name}")
            t = tensors[name].t() if name in linear else tensors[name]
            if tuple(t.shape) != tuple(ours.shape):
                raise ValueError(f"{name}: {tuple(t.shape)} in the file, the model needs {tuple(ours.shape)}")
            state[name] = t.contiguous()
        extra = set(tensors) - set(state)
        if extra:
            raise KeyError(f"model.safetensors has tensors the model lacks: {sorted(extra)}")
        self.load_state_dict(state)


def bits_per_token(logits, tokens):
    """Mean next-token cross-entropy in bits."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1).long()) / math.log(2)


# ---------------------------------------------------------------------------------------------
# Command line.


def parity(in_dir, out_dir):
    with open(os.path.join(in_dir, "config.json")) as f:
        config = json.load(f)
    model = Transformer(config)
    model.load_jukeflow(read_safetensors(os.path.join(in_dir, "model.safetensors")))
    inputs = read_safetensors(os.path.join(in_dir, "inputs.safetensors"))
    tokens = inputs["tokens"]
    logits = model(tokens, inputs.get("conditioning"), inputs.get("encoder_output"))
    loss = bits_per_token(logits, tokens)
    loss.backward()
    norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters() if p.grad is not None))
    write_safetensors(os.path.join(out_dir, "out.safetensors"), {"logits": logits.detach()})
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump({"loss": float(loss), "gradientNorm": norm}, f)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "parity" and len(sys.argv) == 4:
        parity(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
