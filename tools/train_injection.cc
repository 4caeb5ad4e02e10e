// Trains the learned component of the prompt-injection detector
// (docs/injection.md §4-5): logistic regression over the hashed features of
// src/devices/l8/injection_model.h, AdaGrad with L2, a fixed seed, a few
// epochs; then, on the dev set, the Platt map of the model probability, the
// combination with the rules' score and the default threshold (the lowest
// that keeps dev false positives at or under 1%). Writes the binary weights
// file the build embeds into dsmil_devices, and prints dev detection and
// false positives per class.
//
//   train_injection --train DIR --dev DIR --legacy DIR --out FILE
//                   [--epochs N] [--rounds N] [--ensemble N] [--seed N] [--l2 F] [--lr F] [--max-fp F]
//
// DIR holds *.jsonl (injection_corpus.h). When --train holds none, the old
// corpus (--legacy: attacks.txt, benign.txt) is split 70/30 into train and
// dev by a hash of each prompt; when only --dev holds none, the train set is
// split the same way. Deterministic: the same corpus gives the same bytes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "devices/l8/injection_corpus.h"
#include "devices/l8/injection_model.h"

using namespace dsmil::devices;

namespace {

struct Options {
  std::string train_dir, dev_dir, legacy_dir, out;
  int epochs = 8;
  int rounds = 2;
  int ensemble = 5;
  uint64_t seed = 20240611;
  double max_fp = 0.01;
  double learning_rate = 0.25;
  double l2 = 1e-4;
};

// One (unit, view) pair of an example: what the model and the combiner see.
struct Pair {
  double margin = 0;
  double rules = 0;
  std::string where;  // "unit / view"
};

struct Instance {
  FeatureVector x;
  float label;
  float weight;
};

uint64_t SplitMix(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "train_injection: %s\n", msg.c_str());
  std::exit(1);
}

std::vector<CorpusExample> ReadDir(const std::string& dir) {
  auto r = ReadInjectionDir(dir);
  if (!r.ok()) Die(r.status().ToString());
  return std::move(*r);
}

// The unit an attack example is a positive of: its only message, or the
// conversation.
size_t MainUnit(const std::vector<ScoringUnit>& units) { return units.size() - 1; }

// Fits p = sigmoid(sum_k c_k * z_k) to labels by Newton's method with a
// small ridge on every coefficient but the last (the intercept); targets
// smoothed as in Platt (1999) so that separable data stays finite.
std::vector<double> FitLogistic(const std::vector<std::vector<double>>& z, const std::vector<int>& y,
                                std::vector<double> c) {
  size_t k = c.size();
  double pos = 0, neg = 0;
  for (int v : y) (v ? pos : neg) += 1;
  double t_pos = (pos + 1) / (pos + 2), t_neg = 1 / (neg + 2);
  const double ridge = 1e-3;
  for (int iter = 0; iter < 100; ++iter) {
    std::vector<double> g(k, 0);
    std::vector<std::vector<double>> h(k, std::vector<double>(k, 0));
    for (size_t i = 0; i < z.size(); ++i) {
      double s = 0;
      for (size_t a = 0; a < k; ++a) s += c[a] * z[i][a];
      double p = Sigmoid(s);
      double t = y[i] ? t_pos : t_neg;
      double w = std::max(p * (1 - p), 1e-12);
      for (size_t a = 0; a < k; ++a) {
        g[a] += (p - t) * z[i][a];
        for (size_t b = 0; b < k; ++b) h[a][b] += w * z[i][a] * z[i][b];
      }
    }
    for (size_t a = 0; a + 1 < k; ++a) {
      g[a] += ridge * c[a];
      h[a][a] += ridge;
    }
    for (size_t a = 0; a < k; ++a) h[a][a] += 1e-9;
    // Solve h d = g (Gaussian elimination; k <= 3).
    std::vector<double> d = g;
    for (size_t col = 0; col < k; ++col) {
      size_t piv = col;
      for (size_t r = col + 1; r < k; ++r) {
        if (std::fabs(h[r][col]) > std::fabs(h[piv][col])) piv = r;
      }
      std::swap(h[col], h[piv]);
      std::swap(d[col], d[piv]);
      for (size_t r = 0; r < k; ++r) {
        if (r == col || h[col][col] == 0) continue;
        double f = h[r][col] / h[col][col];
        for (size_t cc = col; cc < k; ++cc) h[r][cc] -= f * h[col][cc];
        d[r] -= f * d[col];
      }
    }
    double step = 0;
    for (size_t a = 0; a < k; ++a) {
      double delta = h[a][a] != 0 ? d[a] / h[a][a] : 0;
      c[a] -= delta;
      step = std::max(step, std::fabs(delta));
    }
    if (step < 1e-9) break;
  }
  return c;
}

struct Rate {
  size_t hits = 0, n = 0;
};

}  // namespace

static int Run(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--train") {
      o.train_dir = next();
    } else if (a == "--dev") {
      o.dev_dir = next();
    } else if (a == "--legacy") {
      o.legacy_dir = next();
    } else if (a == "--out") {
      o.out = next();
    } else if (a == "--epochs") {
      o.epochs = std::atoi(next().c_str());
    } else if (a == "--seed") {
      o.seed = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--ensemble") {
      o.ensemble = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--rounds") {
      o.rounds = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--l2") {
      o.l2 = std::atof(next().c_str());
    } else if (a == "--lr") {
      o.learning_rate = std::atof(next().c_str());
    } else if (a == "--max-fp") {
      o.max_fp = std::atof(next().c_str());
    } else {
      Die("unknown argument " + a);
    }
  }
  if (o.out.empty()) Die("--out is required");

  // ---- Corpus ----
  std::vector<CorpusExample> train = o.train_dir.empty() ? std::vector<CorpusExample>() : ReadDir(o.train_dir);
  std::vector<CorpusExample> dev = o.dev_dir.empty() ? std::vector<CorpusExample>() : ReadDir(o.dev_dir);
  if (train.empty()) {
    if (o.legacy_dir.empty()) Die("no training data: --train holds no *.jsonl and no --legacy was given");
    std::printf("train_injection: %s holds no *.jsonl; splitting the old corpus of %s 70/30\n", o.train_dir.c_str(),
                o.legacy_dir.c_str());
    std::vector<CorpusExample> all;
    for (bool attack : {true, false}) {
      auto r = ReadLegacyInjectionText(o.legacy_dir + (attack ? "/attacks.txt" : "/benign.txt"), attack);
      if (!r.ok()) Die(r.status().ToString());
      for (auto& e : *r) all.push_back(std::move(e));
    }
    dev.clear();
    for (auto& e : all) (LegacyExampleIsDev(e) ? dev : train).push_back(std::move(e));
  } else if (dev.empty()) {
    std::printf("train_injection: %s holds no *.jsonl; holding out 30%% of train as dev\n", o.dev_dir.c_str());
    std::vector<CorpusExample> all = std::move(train);
    train.clear();
    for (auto& e : all) (LegacyExampleIsDev(e) ? dev : train).push_back(std::move(e));
  }

  // ---- Training instances ----
  std::map<std::string, size_t> class_count;
  size_t n_attack = 0, n_benign = 0;
  for (const auto& e : train) {
    ++class_count[(e.attack ? "attack/" : "benign/") + e.cls];
    (e.attack ? n_attack : n_benign)++;
  }
  if (n_attack == 0 || n_benign == 0) Die("the training set needs attacks and benign examples");
  // Each label weighs half, and within a label every class the same.
  size_t attack_classes = 0, benign_classes = 0;
  for (const auto& [k, n] : class_count) (k.rfind("attack/", 0) == 0 ? attack_classes : benign_classes)++;
  double total = double(train.size());
  // Benign examples: every unit and view is a negative. Attacks: one
  // positive each, chosen among its units and views (below).
  std::vector<Instance> negatives;
  struct Attack {
    std::vector<FeatureVector> candidates;  // [0]: the main unit, original view
    float weight;
  };
  std::vector<Attack> attacks;
  for (const auto& e : train) {
    std::string key = (e.attack ? "attack/" : "benign/") + e.cls;
    double w = total / 2 / double(e.attack ? attack_classes : benign_classes) / double(class_count[key]);
    std::vector<ScoringUnit> units = ScoringUnits(e.messages);
    if (units.empty()) continue;
    if (e.attack) {
      Attack a{{}, float(w)};
      size_t main = MainUnit(units);
      for (AnalysedView& v : AnalyseUnit(units[main])) a.candidates.push_back(std::move(v.features));
      for (size_t u = 0; u < units.size(); ++u) {
        if (u == main) continue;
        for (AnalysedView& v : AnalyseUnit(units[u])) a.candidates.push_back(std::move(v.features));
      }
      attacks.push_back(std::move(a));
    } else {
      for (const ScoringUnit& u : units) {
        for (AnalysedView& v : AnalyseUnit(u)) negatives.push_back({std::move(v.features), 0.0f, float(w)});
      }
    }
  }
  std::printf("train_injection: %zu train examples (%zu attacks, %zu benign, %zu classes), %zu negatives\n",
              train.size(), n_attack, n_benign, class_count.size(), negatives.size());

  // ---- AdaGrad ----
  // Round 1 takes each attack's whole text (its only message, or the
  // conversation) as the positive; later rounds take the unit and view the
  // previous model scores highest (multiple-instance learning: the attack
  // is somewhere in the example, the detector takes the maximum).
  InjectionModel model;
  size_t dim = size_t(1) << model.bits;
  model.weights.assign(dim, 0.0f);
  std::vector<size_t> chosen(attacks.size(), 0);
  for (int round = 0; round < o.rounds; ++round) {
    if (round > 0) {
      size_t moved = 0;
      for (size_t a = 0; a < attacks.size(); ++a) {
        size_t best = 0;
        double best_m = -1e300;
        for (size_t c = 0; c < attacks[a].candidates.size(); ++c) {
          double m = model.Margin(attacks[a].candidates[c]);
          if (m > best_m) best_m = m, best = c;
        }
        moved += best != chosen[a];
        chosen[a] = best;
      }
      std::printf("train_injection: round %d: %zu attacks take another unit or view as positive\n", round + 1, moved);
    }
    std::vector<const FeatureVector*> xs;
    std::vector<float> labels, weights;
    for (const Instance& in : negatives) xs.push_back(&in.x), labels.push_back(0), weights.push_back(in.weight);
    for (size_t a = 0; a < attacks.size(); ++a) {
      xs.push_back(&attacks[a].candidates[chosen[a]]), labels.push_back(1), weights.push_back(attacks[a].weight);
    }
    // The average of o.ensemble models trained from different shuffles:
    // one shuffle's luck is most of the variance on a small corpus.
    std::vector<double> avg(dim, 0.0);
    double avg_bias = 0;
    for (int member = 0; member < o.ensemble; ++member) {
      std::vector<double> w(dim, 0.0), g2(dim, 1e-6);
      double bias = 0, bias_g2 = 1e-6;
      std::vector<size_t> order(xs.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      uint64_t rng = o.seed + uint64_t(member) * 0x9E3779B97F4A7C15ULL;
      for (int epoch = 0; epoch < o.epochs; ++epoch) {
        for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[SplitMix(&rng) % i]);
        double loss = 0, wsum = 0;
        for (size_t idx : order) {
          const FeatureVector& x = *xs[idx];
          double m = bias;
          for (const HashedFeature& f : x) m += w[f.index] * f.value;
          double p = Sigmoid(m);
          loss -= weights[idx] * (labels[idx] > 0 ? std::log(std::max(p, 1e-12)) : std::log(std::max(1 - p, 1e-12)));
          wsum += weights[idx];
          double err = (p - labels[idx]) * weights[idx];
          for (const HashedFeature& f : x) {
            double g = err * f.value + o.l2 * w[f.index];
            g2[f.index] += g * g;
            w[f.index] -= o.learning_rate * g / std::sqrt(g2[f.index]);
          }
          bias_g2 += err * err;
          bias -= o.learning_rate * err / std::sqrt(bias_g2);
        }
        if (epoch + 1 == o.epochs && member == 0) {
          std::printf("train_injection: round %d: loss %.4f\n", round + 1, loss / wsum);
        }
      }
      for (size_t k = 0; k < dim; ++k) avg[k] += w[k] / o.ensemble;
      avg_bias += bias / o.ensemble;
    }
    for (size_t k = 0; k < dim; ++k) model.weights[k] = float(avg[k]);
    model.bias = float(avg_bias);
  }

  // ---- Dev: calibration, combination, threshold ----
  struct DevExample {
    const CorpusExample* e;
    std::vector<Pair> pairs;
  };
  std::vector<DevExample> devs;
  for (const auto& e : dev) {
    DevExample d{&e, {}};
    for (const ScoringUnit& u : ScoringUnits(e.messages)) {
      for (const AnalysedView& v : AnalyseUnit(u)) {
        d.pairs.push_back({model.Margin(v.features), v.rules.score, u.name + " / " + v.view});
      }
    }
    if (!d.pairs.empty()) devs.push_back(std::move(d));
  }
  size_t dev_attacks = 0, dev_benign = 0;
  for (const auto& d : devs) (d.e->attack ? dev_attacks : dev_benign)++;
  if (dev_attacks == 0 || dev_benign == 0) Die("the dev set needs attacks and benign examples");
  std::vector<int> y;
  y.reserve(devs.size());
  for (const auto& d : devs) y.push_back(d.e->attack ? 1 : 0);
  // Platt on the highest margin of each example.
  std::vector<std::vector<double>> z;
  for (const auto& d : devs) {
    double m = -1e300;
    for (const Pair& p : d.pairs) m = std::max(m, p.margin);
    z.push_back({m, 1.0});
  }
  std::vector<double> platt = FitLogistic(z, y, {1.0, 0.0});
  model.platt_a = platt[0];
  model.platt_b = platt[1];
  // Combination: the pair maximising comb_m*m + comb_r*r depends on the
  // coefficients; refit a few rounds from the model alone.
  std::vector<double> comb = {platt[0], 0.0, platt[1]};
  for (int round = 0; round < 4; ++round) {
    z.clear();
    for (const auto& d : devs) {
      const Pair* best = &d.pairs[0];
      for (const Pair& p : d.pairs) {
        if (comb[0] * p.margin + comb[1] * p.rules > comb[0] * best->margin + comb[1] * best->rules) best = &p;
      }
      z.push_back({best->margin, best->rules, 1.0});
    }
    comb = FitLogistic(z, y, comb);
    comb[0] = std::max(comb[0], 1e-3);  // both must raise the score
    comb[1] = std::max(comb[1], 0.0);
  }
  model.comb_m = comb[0];
  model.comb_r = comb[1];
  model.comb_b = comb[2];
  // The rules' score alone, calibrated on the highest rules score of each
  // dev example (slope kept positive).
  z.clear();
  for (const auto& d : devs) {
    double r = 0;
    for (const Pair& p : d.pairs) r = std::max(r, p.rules);
    z.push_back({r, 1.0});
  }
  std::vector<double> rc = FitLogistic(z, y, {1.0, 0.0});
  model.rules_a = std::max(rc[0], 0.0);
  model.rules_b = rc[1];

  std::vector<double> score(devs.size());
  std::vector<std::string> where(devs.size());
  for (size_t i = 0; i < devs.size(); ++i) {
    score[i] = -1;
    for (const Pair& p : devs[i].pairs) {
      double s = model.Score(p.margin, p.rules);
      if (s > score[i]) score[i] = s, where[i] = p.where;
    }
  }
  std::vector<double> benign_scores, attack_scores;
  for (size_t i = 0; i < devs.size(); ++i) (devs[i].e->attack ? attack_scores : benign_scores).push_back(score[i]);
  std::sort(benign_scores.rbegin(), benign_scores.rend());
  size_t allowed = size_t(std::floor(o.max_fp * double(benign_scores.size()) + 1e-9));
  double threshold = 0.5;
  if (allowed < benign_scores.size()) {
    double lo = benign_scores[allowed];
    double hi = 1.0;
    for (double s : attack_scores) {
      if (s > lo) hi = std::min(hi, s);
    }
    // Midway (in log-odds) between the highest benign score that must pass
    // and the lowest attack score above it.
    auto logit = [](double p) {
      p = std::clamp(p, 1e-12, 1 - 1e-12);
      return std::log(p / (1 - p));
    };
    threshold = Sigmoid((logit(lo) + logit(hi)) / 2);
    if (threshold <= lo) threshold = std::nextafter(lo, 2.0);
  }
  model.threshold = threshold;

  // ---- Report ----
  std::printf(
      "train_injection: dev %zu examples; Platt a=%.4f b=%.4f; score = max(sigmoid(%.4f*m + %.4f*rules + %.4f), "
      "sigmoid(%.4f*rules + %.4f))\n",
      devs.size(), model.platt_a, model.platt_b, model.comb_m, model.comb_r, model.comb_b, model.rules_a,
      model.rules_b);
  std::printf("train_injection: default threshold %.4f (dev false positives <= %.1f%%)\n", threshold, 100 * o.max_fp);
  for (double t : {threshold, 0.5}) {
    std::map<std::string, Rate> per_class;
    Rate att, ben;
    for (size_t i = 0; i < devs.size(); ++i) {
      bool hit = score[i] >= t;
      Rate& r = per_class[(devs[i].e->attack ? "attack  " : "benign  ") + devs[i].e->cls];
      r.hits += hit, r.n++;
      Rate& all = devs[i].e->attack ? att : ben;
      all.hits += hit, all.n++;
    }
    std::printf(
        "train_injection: at threshold %.4f: dev detection %zu/%zu = %.1f%%, false positives %zu/%zu = %.1f%%\n", t,
        att.hits, att.n, 100.0 * double(att.hits) / double(att.n), ben.hits, ben.n,
        100.0 * double(ben.hits) / double(ben.n));
    for (const auto& [k, r] : per_class) {
      std::printf("  %-32s %4zu/%-4zu = %5.1f%% %s\n", k.c_str(), r.hits, r.n, 100.0 * double(r.hits) / double(r.n),
                  k.rfind("attack", 0) == 0 ? "detected" : "flagged");
    }
  }
  if (std::getenv("DSMIL_TRAIN_INJECTION_VERBOSE") != nullptr) {
    for (size_t i = 0; i < devs.size(); ++i) {
      bool hit = score[i] >= threshold;
      bool high_benign = !devs[i].e->attack && score[i] >= 0.5;
      if (hit != devs[i].e->attack || high_benign) {
        std::printf("  %s %s [%s] %.3f at %s: %.160s\n",
                    devs[i].e->attack ? "FN"
                    : hit             ? "FP"
                                      : "fp@.5",
                    devs[i].e->id.c_str(), devs[i].e->cls.c_str(), score[i], where[i].c_str(),
                    ExampleText(*devs[i].e).c_str());
      }
    }
  }

  std::string bytes = model.Serialize();
  std::string tmp = o.out + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) Die("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), o.out.c_str()) != 0) Die("cannot rename " + tmp + " to " + o.out);
  std::printf("train_injection: wrote %s (%zu bytes)\n", o.out.c_str(), bytes.size());
  return 0;
}

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    Die(e.what());
  }
}
