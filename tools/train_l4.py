#!/usr/bin/env python3
"""Trains the L4 Reactive Classifier (docs/soc.md) and writes models/l4_classifier.json.

Generates a labelled synthetic set of SOC events (six categories, four
severities), extracts the same hashed tokens as src/devices/l4/l4_model.h
(L4Tokens, 32-bit FNV-1a into `dim` buckets), trains two multinomial logistic
regression heads (category, severity) with SGD, prints the held-out accuracy
and writes the weights, plus test vectors that the C++ unit test replays.

Uses numpy when it is installed, pure Python otherwise (same results up to
rounding). Deterministic for a given --seed.

  tools/train_l4.py [--out models/l4_classifier.json] [--n 9000] [--dim 2048] [--seed 7]
"""
import argparse
import json
import math
import random
import re
import sys

CATEGORIES = ["NETWORK", "CRYPTO", "SOC", "IDENTITY", "MALWARE", "INSIDER"]
SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]


def fnv1a32(s):
    h = 2166136261
    for c in s.encode("utf-8"):
        h ^= c
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def log2_bucket(v):
    return 0 if v <= 0 else v.bit_length()


def tokens(f):
    """The tokens of l4_model.h L4Tokens, in the same order."""
    out = ["bias"]

    def s(prefix, key):
        v = f.get(key)
        if v:
            out.append((prefix + v.lower())[:96])

    s("proto=", "protocol")
    s("kex=", "kex")
    s("tls=", "tls_version")
    s("enclave=", "enclave_attestation")
    s("proc=", "process")
    if "dst_port" in f:
        out.append("port=%d" % f["dst_port"])
    for k in ["src_ip", "dst_ip", "src_host", "dst_domain", "user", "file_hash"]:
        if f.get(k):
            out.append("has=" + k)
    for k in ["bytes_in", "bytes_out", "conn_count", "failed_logins", "distinct_ports"]:
        if k in f:
            out.append("%s:b%d" % (k, log2_bucket(f[k])))
    if "login_hour" in f:
        out.append("hour=%d" % f["login_hour"])
    for k, name in [("anomaly_score", "anomaly"), ("biometric_score", "biometric")]:
        if k in f:
            out.append("%s:%d" % (name, min(9, int(f[k] * 10))))
    words = re.findall(r"[A-Za-z0-9]+", f.get("signature", ""))[:32]
    for w in words:
        out.append("w=" + w[:64].lower())
    return out


WORDS = {
    "NETWORK": ["port scan detected", "syn flood", "dns tunnel suspected", "beacon interval regular",
                "lateral movement smb", "unusual egress volume", "icmp sweep"],
    "CRYPTO": ["tls handshake classical kex", "certificate expired", "weak cipher negotiated",
               "ssh key exchange downgrade", "self signed certificate", "pqc negotiation failed"],
    "SOC": ["log integrity check", "audit chain verified", "sensor heartbeat missed",
            "collector restarted", "log gap detected", "rule update applied"],
    "IDENTITY": ["failed login burst", "mfa bypass attempt", "password spray", "impossible travel",
                 "privilege escalation request", "account lockout"],
    "MALWARE": ["trojan signature match", "ransomware note dropped", "c2 callback", "macro dropper",
                "process hollowing", "credential dumper"],
    "INSIDER": ["bulk download", "usb mass storage copy", "after hours access", "sensitive share browse",
                "personal cloud upload", "print spike"],
}


def synth(rng, cat):
    f = {}
    intensity = rng.random()
    if cat == "NETWORK":
        f["protocol"] = rng.choice(["tcp", "udp", "http", "dns", "icmp"])
        f["dst_port"] = rng.choice([22, 53, 80, 443, 445, 3389, 8080, 4444])
        f["src_ip"] = "10.0.0.%d" % rng.randint(1, 254)
        f["dst_ip"] = "198.51.100.%d" % rng.randint(1, 254)
        f["conn_count"] = int(10 + intensity * 5000 * rng.random())
        f["distinct_ports"] = int(1 + intensity * 900 * rng.random())
        f["bytes_out"] = int(1000 + intensity * 5e7 * rng.random())
        f["anomaly_score"] = min(1.0, intensity * rng.uniform(0.6, 1.1))
    elif cat == "CRYPTO":
        f["protocol"] = rng.choice(["tls", "ssh", "tls", "quic"])
        f["kex"] = rng.choice(["X25519", "secp384r1", "X25519MLKEM768", "ecdh-sha2-nistp256", "ffdhe2048"])
        f["tls_version"] = rng.choice(["1.0", "1.1", "1.2", "1.3", "1.3"])
        f["dst_port"] = rng.choice([443, 22, 8443, 993])
        f["dst_domain"] = rng.choice(["mail.example.org", "vpn.example.net", "api.partner.example"])
        f["anomaly_score"] = min(1.0, intensity * rng.uniform(0.5, 1.0))
    elif cat == "SOC":
        f["process"] = rng.choice(["dsmild", "rsyslogd", "auditd", "promtail"])
        f["src_host"] = "sensor-%02d" % rng.randint(1, 40)
        f["anomaly_score"] = min(1.0, intensity * rng.uniform(0.2, 0.9))
    elif cat == "IDENTITY":
        f["user"] = "u%04d" % rng.randint(1, 5000)
        f["src_ip"] = "10.1.0.%d" % rng.randint(1, 254)
        f["failed_logins"] = int(intensity * 60 * rng.random())
        f["login_hour"] = rng.randint(0, 23)
        f["biometric_score"] = max(0.0, 1.0 - intensity * rng.uniform(0.3, 1.0))
        f["protocol"] = rng.choice(["kerberos", "ldap", "oidc", "ssh"])
    elif cat == "MALWARE":
        f["file_hash"] = "%064x" % rng.getrandbits(256)
        f["process"] = rng.choice(["powershell.exe", "rundll32.exe", "wscript.exe", "bash", "python3"])
        f["src_host"] = "ws-%03d" % rng.randint(1, 400)
        f["anomaly_score"] = min(1.0, 0.3 + intensity * rng.uniform(0.3, 0.8))
        if rng.random() < 0.5:
            f["dst_domain"] = rng.choice(["cdn-update.example", "stats-collector.example"])
    else:  # INSIDER
        f["user"] = "u%04d" % rng.randint(1, 5000)
        f["src_host"] = "ws-%03d" % rng.randint(1, 400)
        f["bytes_out"] = int(1e6 + intensity * 5e9 * rng.random())
        f["login_hour"] = rng.choice([1, 2, 3, 22, 23, 9, 14])
        f["dst_domain"] = rng.choice(["drive.personal.example", "files.share.example", "intranet.example"])
    if rng.random() < 0.25:  # overlap: a few fields of another category's event
        other = rng.choice([c for c in CATEGORIES if c != cat])
        of = synth_fields_only(rng, other)
        for key in rng.sample(sorted(of), k=min(len(of), 2)):
            f[key] = of[key]
    words = rng.choice(WORDS[cat])
    if rng.random() < 0.15:  # label noise in the text: a signature of another category
        words = rng.choice(WORDS[rng.choice(CATEGORIES)])
    if rng.random() < 0.1:
        words = ""
    if words:
        f["signature"] = words
    # Severity follows the intensity, with noise.
    level = intensity + rng.gauss(0, 0.08)
    sev = 0 if level < 0.35 else 1 if level < 0.6 else 2 if level < 0.85 else 3
    return f, CATEGORIES.index(cat), sev


def synth_fields_only(rng, cat):
    state = rng.getstate()
    f, _, _ = synth(random.Random(rng.random()), cat)
    rng.setstate(state)
    rng.random()
    f.pop("signature", None)
    return f


def featurize(f, dim):
    idx = {}
    for t in tokens(f):
        b = fnv1a32(t) % dim
        idx[b] = idx.get(b, 0) + 1.0
    return list(idx.items())


def softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def train_head(xs, ys, k, dim, epochs, lr, l2, rng):
    w = [[0.0] * k for _ in range(dim)]
    b = [0.0] * k
    order = list(range(len(xs)))
    for ep in range(epochs):
        rng.shuffle(order)
        rate = lr / (1 + ep)
        for i in order:
            x, y = xs[i], ys[i]
            z = b[:]
            for j, v in x:
                wj = w[j]
                for c in range(k):
                    z[c] += wj[c] * v
            p = softmax(z)
            p[y] -= 1.0
            for c in range(k):
                b[c] -= rate * p[c]
            for j, v in x:
                wj = w[j]
                for c in range(k):
                    wj[c] -= rate * (p[c] * v + l2 * wj[c])
    return w, b


def predict(w, b, x):
    z = b[:]
    for j, v in x:
        for c in range(len(b)):
            z[c] += w[j][c] * v
    return softmax(z)


def rounded(w, b):
    return [[round(v, 5) for v in row] for row in w], [round(v, 5) for v in b]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="models/l4_classifier.json")
    ap.add_argument("--n", type=int, default=9000, help="events generated (75%% train, 25%% held out)")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    try:
        import numpy  # noqa: F401  (only reported: the pure-Python path is exact and fast enough)
        backend = "numpy available; pure-python SGD used for bit-stable output"
    except ImportError:
        backend = "pure python"

    rng = random.Random(a.seed)
    data = [synth(rng, CATEGORIES[i % len(CATEGORIES)]) for i in range(a.n)]
    rng.shuffle(data)
    cut = a.n * 3 // 4
    train, test = data[:cut], data[cut:]
    xs = [featurize(f, a.dim) for f, _, _ in train]
    wc, bc = train_head(xs, [c for _, c, _ in train], len(CATEGORIES), a.dim, a.epochs, 0.2, 1e-5, rng)
    ws, bs = train_head(xs, [s for _, _, s in train], len(SEVERITIES), a.dim, a.epochs, 0.2, 1e-5, rng)
    wc, bc = rounded(wc, bc)
    ws, bs = rounded(ws, bs)

    cat_ok = sev_ok = 0
    for f, c, s in test:
        x = featurize(f, a.dim)
        pc, ps = predict(wc, bc, x), predict(ws, bs, x)
        cat_ok += int(max(range(len(pc)), key=pc.__getitem__) == c)
        sev_ok += int(max(range(len(ps)), key=ps.__getitem__) == s)
    cat_acc, sev_acc = cat_ok / len(test), sev_ok / len(test)
    print("train %d, held out %d, dim %d, %s" % (len(train), len(test), a.dim, backend))
    print("held-out accuracy: category %.4f, severity %.4f" % (cat_acc, sev_acc))

    vectors = []
    for f, c, s in test[:12]:
        x = featurize(f, a.dim)
        pc, ps = predict(wc, bc, x), predict(ws, bs, x)
        ci = max(range(len(pc)), key=pc.__getitem__)
        si = max(range(len(ps)), key=ps.__getitem__)
        vectors.append({"features": f, "category": CATEGORIES[ci], "confidence": round(pc[ci], 6),
                        "severity": SEVERITIES[si]})

    model = {
        "format": "dsmil-l4-classifier",
        "version": 1,
        "dim": a.dim,
        "hash": "fnv1a32",
        "categories": CATEGORIES,
        "severities": SEVERITIES,
        "trained": {"generator": "tools/train_l4.py", "seed": a.seed, "n": a.n, "epochs": a.epochs},
        "heldout": {"n": len(test), "category_accuracy": round(cat_acc, 4), "severity_accuracy": round(sev_acc, 4)},
        "category_bias": bc,
        "severity_bias": bs,
        # One row per class, `dim` weights each.
        "category_weights": [[wc[d][k] for d in range(a.dim)] for k in range(len(CATEGORIES))],
        "severity_weights": [[ws[d][k] for d in range(a.dim)] for k in range(len(SEVERITIES))],
        "test_vectors": vectors,
    }
    with open(a.out, "w") as fh:
        json.dump(model, fh, separators=(",", ":"))
        fh.write("\n")
    print("wrote %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
