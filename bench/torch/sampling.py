#!/usr/bin/python3
"""
Sampling with the PyTorch reference of the prior (prior.py), with and without a KV cache: the peer
of bench/sampling.ts, never a dependency of jukeflow. Needs Debian's python3-torch:

  /usr/bin/python3 bench/torch/sampling.py bench DIR '{"threads": 1, "levels": ["top"], "lengths": {"top": 1024}, "prefix": 128, "batch": 2, "runs": 3, "warmups": 1}'
  /usr/bin/python3 bench/torch/sampling.py sample IN_DIR '{"length": 29, "batch": 2}'

IN_DIR (for `bench`, DIR/LEVEL) holds what prior.py's `parity` reads for a prior: config.json,
conditions.json, model.safetensors and inputs.safetensors ("upper" (B, Tu) and "lyrics" (B, Tl)
int32 when the prior takes them; no tokens). Greedy (argmax) sampling of B sequences:

  cached:   a window of `length` positions through `CachedDecoder` (conditioning and lyric states
            computed once, then the start slot and one token at a time), as models/sampling.ts
            `sampleWindow` does;
  uncached: the first `prefix` positions, each next token from a full `Prior.forward` over the
            tokens so far (conditioning and lyrics encoder included, as jukeflow's `prior.forward`).

`bench` (bench/sampling.ts) prints one JSON line: per level, median seconds of each (`runs` after
`warmups`, or of 3 or more once they took `budget` seconds) and the tokens each chose (B lists), so
that the caller can check both sides sampled the same sequences. `sample`
(test/models/sampling-parity.test.ts) prints the tokens of both over the whole `length`.
"""
import json
import os
import statistics
import sys
import time

import torch

from prior import EncoderDecoderAttention, Prior, attention, load_jukeflow, merge_heads, split_heads
from vqvae import blas_library, read_safetensors


class CachedDecoder:
    """
    A prior's Transformer decoding one position at a time, keys and values of each self-attention
    layer kept in a buffer of the window's length (B, H, T, dh), the encoder-decoder layers' keys
    and values projected once. A query sees its keys by slicing the buffer, as the Jukebox reference
    does, so no mask is built: dense [0, t], row its block up to t, column every L-th position up to
    t (t mod L, t mod L + L, ...), previous-row the whole block before t's (output 0 in block 0).
    """

    def __init__(self, transformer, batch, length, conditioning=None, states=None):
        self.m, self.t, self.length, self.conditioning = transformer, 0, length, conditioning
        self.caches = []
        for block in transformer.blocks:
            attn = block.attn
            if isinstance(attn, EncoderDecoderAttention):
                self.caches.append(tuple(split_heads(x, attn.heads) for x in attn.kv(states).chunk(2, dim=-1)))
            else:
                per_head = attn.qkv.out_features // 3 // attn.heads
                self.caches.append(tuple(torch.zeros(batch, attn.heads, length, per_head) for _ in range(2)))

    def start(self):
        """-> logits (B, vocab) of position 0 (the start slot)."""
        b = self.caches[0][0].shape[0]
        return self._step(self.m.start_embedding.expand(b, 1, -1))

    def step(self, tokens):
        """The tokens (B,) of the last position -> logits (B, vocab) of the next."""
        return self._step(self.m.token_embedding(tokens[:, None]))

    def _step(self, x):
        t = self.t
        if t >= self.length:
            raise IndexError(f"position {t} is past the window of {self.length}")
        x = x + self.m.position_embedding[t]  # (B, 1, W)
        if self.conditioning is not None:
            x = x + self.conditioning[:, t:t + 1]
        for block, cache in zip(self.m.blocks, self.caches):
            x = x + self._attend(block.attn, cache, block.ln_1(x), t)
            x = x + block.mlp(block.ln_2(x))
        self.t += 1
        return self.m.head(self.m.ln_f(x))[:, 0]

    @staticmethod
    def _attend(attn, cache, h, t):
        """h (B, 1, W) of position t -> the attention layer's output (B, 1, W), its key and value kept."""
        if isinstance(attn, EncoderDecoderAttention):
            return attn.out(merge_heads(attention(split_heads(attn.q(h), attn.heads), *cache)))
        q, k, v = (split_heads(x, attn.heads) for x in attn.qkv(h).chunk(3, dim=-1))  # (B, H, 1, dh)
        keys, values = cache
        keys[:, :, t:t + 1] = k
        values[:, :, t:t + 1] = v
        length = attn.block_length
        start = t - t % length
        if attn.kind == "dense":
            seen = slice(0, t + 1)
        elif attn.kind == "row":
            seen = slice(start, t + 1)
        elif attn.kind == "column":
            seen = slice(t % length, t + 1, length)
        elif attn.kind == "previous-row":
            if start == 0:
                return attn.out(torch.zeros_like(merge_heads(q)))
            seen = slice(start - length, start)
        else:
            raise ValueError(f"unknown attention kind {attn.kind}")
        return attn.out(merge_heads(attention(q, keys[:, :, seen], values[:, :, seen])))


def sample_cached(model, conditions, upper, lyrics, batch, length):
    """Greedy tokens (B, length) through the cached decoder."""
    conditioning, states, _ = model.condition(conditions, length, upper, lyrics)
    decoder = CachedDecoder(model.prior, batch, length, conditioning, states)
    tokens = torch.zeros(batch, length, dtype=torch.long)
    logits = decoder.start()
    for t in range(length):
        tokens[:, t] = logits.argmax(-1)
        if t + 1 < length:
            logits = decoder.step(tokens[:, t])
    return tokens


def sample_uncached(model, conditions, upper, lyrics, batch, count):
    """Greedy tokens (B, count), each from a full forward pass over the tokens before it (and a placeholder for its own)."""
    tokens = torch.zeros(batch, count, dtype=torch.long)
    for t in range(count):
        logits, _ = model(tokens[:, :t + 1], conditions, upper, lyrics)  # row t sees tokens 0 ... t - 1
        tokens[:, t] = logits[:, -1].argmax(-1)
    return tokens


def load_prior(in_dir):
    """The prior in IN_DIR (prior.py's `parity` layout), and its conditions, upper codes and lyrics (or None)."""
    with open(os.path.join(in_dir, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(in_dir, "conditions.json")) as f:
        conditions = json.load(f)
    model = Prior(config)
    load_jukeflow(model, read_safetensors(os.path.join(in_dir, "model.safetensors")))
    model.eval()
    inputs = read_safetensors(os.path.join(in_dir, "inputs.safetensors"))
    return model, conditions, inputs.get("upper"), inputs.get("lyrics")


def sample(in_dir, args):
    """Prints the greedy tokens of B sequences of `length` positions, cached and uncached, as one JSON line."""
    model, conditions, upper, lyrics = load_prior(in_dir)
    batch, length = args["batch"], args["length"]
    with torch.inference_mode():
        cached = sample_cached(model, conditions, upper, lyrics, batch, length)
        uncached = sample_uncached(model, conditions, upper, lyrics, batch, length)
    print(json.dumps({"cachedTokens": cached.tolist(), "uncachedTokens": uncached.tolist()}))


def bench(directory, args):
    threads, budget = args["threads"], args.get("budget", 5)
    runs, warmups, batch = args.get("runs", 3), args.get("warmups", 1), args["batch"]
    torch.set_num_threads(threads)
    figures = {}
    for level in args["levels"]:
        model, conditions, upper, lyrics = load_prior(os.path.join(directory, level))
        chosen, counts = {}, {}

        def timed(name, once, warm):
            for _ in range(warmups):
                warm()
            times = []
            while len(times) < runs and (len(times) < 3 or sum(times) < budget):
                start = time.perf_counter()
                chosen[name] = once()
                times.append(time.perf_counter() - start)
            counts[name] = len(times)
            return statistics.median(times)

        with torch.inference_mode():
            length, prefix = args["lengths"][level], args["prefix"]
            cached = timed("cached", lambda: sample_cached(model, conditions, upper, lyrics, batch, length),
                           lambda: sample_cached(model, conditions, upper, lyrics, batch, min(length, 64)))
            uncached = timed("uncached", lambda: sample_uncached(model, conditions, upper, lyrics, batch, prefix),
                             lambda: sample_uncached(model, conditions, upper, lyrics, batch, min(prefix, 16)))
        figures[level] = {
            "cached": cached,
            "uncached": uncached,
            "runs": counts,
            "cachedTokens": chosen["cached"].tolist(),
            "uncachedTokens": chosen["uncached"].tolist(),
        }
    print(json.dumps({"threads": torch.get_num_threads(), "blas": blas_library(), "torch": torch.__version__, "levels": figures}))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "bench":
        bench(sys.argv[2], json.loads(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "sample":
        sample(sys.argv[2], json.loads(sys.argv[3]))
    else:
        sys.exit(__doc__)
