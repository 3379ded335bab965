#!/usr/bin/python3
"""
The PyTorch reference of one jukeflow VQ-VAE level: the same encoder, nearest-code bottleneck,
decoder, training loss (L2 + multi-resolution spectral + commit) and Adam step as models/vqvae.ts,
bottleneck.ts, losses.ts, stft.ts and train-step.ts, loading jukeflow's safetensors weights by name.
A peer for the parity test (test/models/parity.test.ts) and the benchmark (bench/vqvae.ts), never
a dependency of jukeflow. Needs Debian's python3-torch (and libopenblas0, or torch falls back to
the reference BLAS):

  /usr/bin/python3 bench/torch/vqvae.py parity IN_DIR OUT_DIR
  /usr/bin/python3 bench/torch/vqvae.py bench IN_DIR '{"threads": 2, "repeats": 10, "warmups": 2, "budget": 5}'

IN_DIR holds config.json (a levelConfig, plus "train": a trainConfig with "step", the step the
optimizer is at), model.safetensors (weights and bottleneck state, jukeflow's names and layouts)
and audio.safetensors ("audio", (B, T, C) as jukeflow holds it). Nothing is read from the network.

`parity` writes OUT_DIR/out.safetensors (encoded (B, L, D), codes (B, L) int32, decoded (B, T, C)
from those codes, and the codebook after one training step) and OUT_DIR/metrics.json (that step's
loss parts and gradient norm). `bench` prints one JSON line: median seconds of a forward pass, a
training step and an encode, at the given thread count.
"""
import json
import math
import os
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------
# Modules, named so that state_dict() names are jukeflow's weight names (models/vqvae.ts).
# Sequences are (B, C, T) here; jukeflow's are (B, T, C).


def residual_dilations(c):
    """growth^j (1, 3, 9, ...), restarting every dilationCycle blocks when set."""
    cycle = c.get("dilationCycle")
    return [c["dilationGrowth"] ** (j if cycle is None else j % cycle) for j in range(c["depth"])]


class ResidualBlock(nn.Module):
    """x + conv1(ReLU(conv3_dilated(ReLU(x)))): (B, W, T) -> (B, R, T) -> (B, W, T)."""

    def __init__(self, width, residual_width, dilation):
        super().__init__()
        self.conv3 = nn.Conv1d(width, residual_width, 3, padding=dilation, dilation=dilation)
        self.conv1 = nn.Conv1d(residual_width, width, 1)

    def forward(self, x):
        return x + self.conv1(F.relu(self.conv3(F.relu(x))))


def residual_stack(c, dilations):
    return nn.Sequential(*[ResidualBlock(c["width"], c["residualWidth"], d) for d in dilations])


class EncoderBlock(nn.Module):
    """conv k4 s2 -> residual stack: (B, Cin, T) -> (B, W, T/2)."""

    def __init__(self, c, in_channels):
        super().__init__()
        self.down = nn.Conv1d(in_channels, c["width"], 4, stride=2, padding=1)
        self.res = residual_stack(c, residual_dilations(c))

    def forward(self, x):
        return self.res(self.down(x))


class Encoder(nn.Module):
    """(B, channels, T) -> (B, D, T/hop)."""

    def __init__(self, c):
        super().__init__()
        self.blocks = nn.ModuleList([EncoderBlock(c, c["channels"] if i == 0 else c["width"]) for i in range(c["downs"])])
        self.out = nn.Conv1d(c["width"], c["embeddingWidth"], 3, padding=1)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.out(x)


class DecoderBlock(nn.Module):
    """residual stack (dilations contracting) -> transposed conv k4 s2: (B, W, T) -> (B, W or D, 2T)."""

    def __init__(self, c, out_channels):
        super().__init__()
        self.res = residual_stack(c, residual_dilations(c)[::-1])
        self.up = nn.ConvTranspose1d(c["width"], out_channels, 4, stride=2, padding=1)

    def forward(self, x):
        return self.up(self.res(x))


class Decoder(nn.Module):
    """(B, D, T/hop) -> (B, channels, T)."""

    def __init__(self, c):
        super().__init__()
        self.add_module("in", nn.Conv1d(c["embeddingWidth"], c["width"], 3, padding=1))  # `in` is a Python keyword
        last = c["downs"] - 1
        self.blocks = nn.ModuleList([DecoderBlock(c, c["embeddingWidth"] if i == last else c["width"]) for i in range(c["downs"])])
        self.out = nn.Conv1d(c["embeddingWidth"], c["channels"], 3, padding=1)

    def forward(self, x):
        x = getattr(self, "in")(x)
        for block in self.blocks:
            x = block(x)
        return self.out(x)


class Bottleneck(nn.Module):
    """The codebook and its EMA statistics (models/bottleneck.ts); buffers, not parameters."""

    def __init__(self, c):
        super().__init__()
        k, d = c["codebookSize"], c["embeddingWidth"]
        self.decay, self.threshold = c["emaDecay"], c["restartThreshold"]
        self.register_buffer("codebook", torch.zeros(k, d))
        self.register_buffer("ema_sum", torch.zeros(k, d))
        self.register_buffer("ema_count", torch.zeros(k))

    def nearest_codes(self, x):
        """(N, D) -> (N) int64, by ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2 without the ||x||^2 term, as jukeflow."""
        distances = (self.codebook ** 2).sum(1) - 2 * (x @ self.codebook.t())  # (N, K)
        return distances.argmin(1)

    @torch.no_grad()
    def init_codebook(self, x):
        """Distinct random rows of x (N, D), each counted once (jukeflow repeats rows with noise when N < K)."""
        k, d = self.codebook.shape
        rows = torch.cat([torch.randperm(x.shape[0]) for _ in range(math.ceil(k / x.shape[0]))])[:k]
        vectors = x[rows]
        if x.shape[0] < k:
            vectors = vectors + (0.01 / math.sqrt(d)) * torch.randn(k, d)
        self.codebook.copy_(vectors)
        self.ema_sum.copy_(vectors)
        self.ema_count.fill_(1)

    @torch.no_grad()
    def update(self, x, codes):
        """One EMA step from x (N, D) and its codes, then restarts of codes whose count fell below the threshold."""
        k = self.codebook.shape[0]
        batch_sum = torch.zeros_like(self.ema_sum).index_add_(0, codes, x)  # (K, D)
        batch_count = torch.bincount(codes, minlength=k).to(x.dtype)  # (K)
        ema_sum = self.ema_sum * self.decay + batch_sum * (1 - self.decay)
        ema_count = self.ema_count * self.decay + batch_count * (1 - self.decay)
        used = ema_count >= self.threshold
        fresh = x[torch.randint(0, x.shape[0], (k,))]
        self.codebook.copy_(torch.where(used[:, None], ema_sum / ema_count.clamp(min=1e-12)[:, None], fresh))
        self.ema_sum.copy_(torch.where(used[:, None], ema_sum, fresh * self.threshold))
        self.ema_count.copy_(torch.where(used, ema_count, torch.full_like(ema_count, self.threshold)))
        usage = int(used.sum())
        p = batch_count[batch_count > 0] / batch_count.sum()
        return {"usage": usage, "entropy": float(-(p * p.log2()).sum()), "restarts": k - usage}


class Autoencoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.encoder = Encoder(c)
        self.bottleneck = Bottleneck(c)
        self.decoder = Decoder(c)

    def encode_to_codes(self, audio):
        """(B, channels, T) -> codes (B, T/hop)."""
        encoded = self.encoder(audio)  # (B, D, L)
        b, d, length = encoded.shape
        return self.bottleneck.nearest_codes(encoded.transpose(1, 2).reshape(-1, d)).reshape(b, length)

    def decode_codes(self, codes):
        """(B, L) -> (B, channels, L.hop)."""
        return self.decoder(self.bottleneck.codebook[codes].transpose(1, 2))

    def load_jukeflow(self, tensors):
        """Loads jukeflow's (K, Cin, Cout) conv weights: Conv1d = permute(2, 1, 0), ConvTranspose1d = permute(1, 2, 0)."""
        transposed = {f"{name}.weight" for name, m in self.named_modules() if isinstance(m, nn.ConvTranspose1d)}
        state = {}
        for name, ours in self.state_dict().items():
            if name not in tensors:
                raise KeyError(f"model.safetensors has no tensor named {name}")
            t = tensors[name]
            if name.endswith(".weight"):
                t = t.permute(1, 2, 0) if name in transposed else t.permute(2, 1, 0)
            if tuple(t.shape) != tuple(ours.shape):
                raise ValueError(f"{name}: {tuple(t.shape)} in the file, the model needs {tuple(ours.shape)}")
            state[name] = t.contiguous()
        self.load_state_dict(state)


# ---------------------------------------------------------------------------------------------
# Losses (models/losses.ts, models/stft.ts) and the training step (models/train-step.ts).

_windows = {}


def stft_magnitude(x, n_fft, hop, window):
    """|STFT| of (N, T): centred frames, reflected ends, periodic Hann window of `window` samples -> (N, bins, frames)."""
    if window not in _windows:
        _windows[window] = torch.hann_window(window, periodic=True)
    spectrum = torch.view_as_real(
        torch.stft(x, n_fft, hop_length=hop, win_length=window, window=_windows[window], center=True, pad_mode="reflect", return_complex=True)
    )
    return torch.sqrt((spectrum ** 2).sum(-1) + 1e-10)


def spectral_loss(target, output, stfts):
    """Per resolution, the mean over clips and channels of || |STFT x| - |STFT y| ||_F; then the mean over resolutions."""
    x, y = target.reshape(-1, target.shape[-1]), output.reshape(-1, output.shape[-1])  # (B.C, T)
    losses = []
    for s in stfts:
        difference = stft_magnitude(x, s["nFft"], s["hop"], s["window"]) - stft_magnitude(y, s["nFft"], s["hop"], s["window"])
        losses.append(torch.sqrt((difference ** 2).sum((1, 2)) + 1e-12).mean())
    return sum(losses) / len(stfts)


class Trainer:
    """Adam with linear warm-up, global-norm clipping, and the codebook's EMA update after each step."""

    def __init__(self, model, train):
        self.model, self.train, self.step = model, train, train.get("step", 0)
        adam = train["adam"]
        self.parameters = list(model.parameters())
        self.optimizer = torch.optim.Adam(self.parameters, lr=train["learningRate"], betas=(adam["beta1"], adam["beta2"]), eps=adam["epsilon"])

    def train_step(self, audio):
        """One step on audio (B, channels, T); returns the step's figures as plain numbers."""
        model, t = self.model, self.train
        bottleneck = model.bottleneck
        if self.step == 0:
            with torch.no_grad():
                bottleneck.init_codebook(flatten(model.encoder(audio)))

        encoded = model.encoder(audio)  # (B, D, L)
        vectors = flatten(encoded)  # (B.L, D)
        codes = bottleneck.nearest_codes(vectors.detach())
        code_vectors = bottleneck.codebook[codes]
        commit = F.mse_loss(vectors, code_vectors)
        quantized = vectors + (code_vectors - vectors).detach()  # straight through
        output = model.decoder(quantized.reshape(encoded.shape[0], encoded.shape[2], -1).transpose(1, 2))  # (B, channels, T)
        l2 = F.mse_loss(output, audio) / t["lossScale"]["l2"]
        spectral = spectral_loss(audio, output, t["stfts"]) / t["lossScale"]["spectral"]
        loss = l2 + t["spectralWeight"] * spectral + model.config["commitWeight"] * commit

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(self.parameters, t["clipNorm"]))
        learning_rate = t["learningRate"] * min(1, (self.step + 1) / max(1, t["warmupSteps"]))
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        self.optimizer.step()
        self.step += 1

        figures = bottleneck.update(vectors.detach(), codes)
        return {"loss": float(loss), "l2": float(l2), "spectral": float(spectral), "commit": float(commit), "gradientNorm": norm, **figures}


def flatten(encoded):
    """(B, D, L) -> (B.L, D), jukeflow's row order."""
    return encoded.transpose(1, 2).reshape(-1, encoded.shape[1])


# ---------------------------------------------------------------------------------------------
# safetensors: 8-byte little-endian header length, JSON header, raw little-endian data. Read and
# written here: Debian's python3-torch comes without the `safetensors` package.

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    start = 8 + length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(data[start + begin : start + end]), dtype=DTYPES[entry["dtype"]]) if end > begin else torch.zeros(0, dtype=DTYPES[entry["dtype"]])
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def write_safetensors(path, tensors):
    names = sorted(tensors)
    header, chunks, offset = {}, [], 0
    for name in names:
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": next(k for k, v in DTYPES.items() if v == t.dtype), "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header)
    text += " " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text.encode() + b"".join(chunks))


# ---------------------------------------------------------------------------------------------
# Command line.


def load(in_dir):
    with open(os.path.join(in_dir, "config.json")) as f:
        config = json.load(f)
    model = Autoencoder(config)
    model.load_jukeflow(read_safetensors(os.path.join(in_dir, "model.safetensors")))
    audio = read_safetensors(os.path.join(in_dir, "audio.safetensors"))["audio"].permute(0, 2, 1).contiguous()  # (B, T, C) -> (B, C, T)
    return config, model, audio


def parity(in_dir, out_dir):
    config, model, audio = load(in_dir)
    with torch.no_grad():
        encoded = model.encoder(audio)  # (B, D, L)
        codes = model.encode_to_codes(audio)
        decoded = model.decode_codes(codes)  # (B, channels, T)
    figures = Trainer(model, config["train"]).train_step(audio) if "train" in config else {}
    write_safetensors(
        os.path.join(out_dir, "out.safetensors"),
        {
            "encoded": encoded.permute(0, 2, 1),
            "codes": codes.to(torch.int32),
            "decoded": decoded.permute(0, 2, 1),
            "codebook_after_step": model.bottleneck.codebook,
        },
    )
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(figures, f)


def blas_library():
    """The BLAS this process loaded (OpenBLAS or Debian's reference libblas), from its memory map."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    for path in sorted(paths):
        if "openblas" in path:
            return "openblas"
    return "reference" if paths else "none"


def bench(in_dir, args):
    """
    Median seconds of a training step, a forward pass (encode + bottleneck + decode) and an encode,
    after warm-ups: `repeats` runs, or fewer (3 at least) once they have taken `budget` seconds, so
    that a thread count that a busy machine makes very slow does not stall the benchmark.
    """
    threads, repeats, warmups, budget = args["threads"], args.get("repeats", 10), args.get("warmups", 2), args.get("budget", 5)
    torch.set_num_threads(threads)
    config, model, audio = load(in_dir)
    trainer = Trainer(model, config["train"])

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

    def forward():
        with torch.no_grad():
            model.decode_codes(model.encode_to_codes(audio))

    def encode():
        with torch.no_grad():
            model.encode_to_codes(audio)

    seconds = {
        "train": timed("train", lambda: trainer.train_step(audio)),  # first: its first step fills the codebook, as jukeflow's does
        "forward": timed("forward", forward),
        "encode": timed("encode", encode),
    }
    result = {"threads": torch.get_num_threads(), "blas": blas_library(), "torch": torch.__version__, **seconds, "runs": runs}
    print(json.dumps(result))


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "parity" and len(sys.argv) == 4:
        parity(sys.argv[2], sys.argv[3])
    elif command == "bench" and len(sys.argv) == 4:
        bench(sys.argv[2], json.loads(sys.argv[3]))
    else:
        sys.exit(__doc__)
