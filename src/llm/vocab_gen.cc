#include "llm/vocab_gen.h"

#include <algorithm>
#include <climits>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace dsmil::llm {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // ▁

constexpr std::string_view kBuiltinCorpus = R"(
The system is made of three nodes. The first node watches the network and raises alerts when
something looks wrong. The second node answers questions with a language model and searches the
documents that the operators have stored. The third node keeps the records: events, logs, metrics
and the archive of everything that happened. Each node runs a small set of services, and every
service has a number, a name and a budget of memory.

Messages between the services travel in one binary format. Every message names the tenant it
belongs to, and a service refuses a message from another tenant. When two nodes talk to each other
they first prove who they are, agree on keys, and then encrypt every message they send. If a peer
stops answering, the others notice within a few seconds, mark it as lost, and keep working with
what is left. When it comes back, it joins again without anyone having to restart it.

An operator starts the whole platform with one command. She can ask for the status of each node,
see which services are healthy and which are slow, read the latest alerts for her own tenant, and
check that the language model answers within its time limit. The numbers she sees are the same
numbers that the monitoring system collects every fifteen seconds: requests, errors, latency,
memory, and the rate at which the model writes new words.

Good software is written in small steps. Each change is tested, reviewed and measured before it is
trusted. Errors are reported with a clear message that says what was wrong and where, so that the
person who reads it can fix the problem quickly. Bad input never crashes a program; it is refused
politely. Data that was accepted is never lost, even when a process or a server stops in the
middle of its work.

The weather was cold in the morning, but by noon the sun had warmed the valley and the children
were playing by the river. Their parents sat under the old trees, talking about the harvest, the
price of bread, and the new road that would connect the village with the city. In the evening
everyone gathered in the square to listen to music, eat, drink and dance until late at night.

Learning a language takes time. You read, you listen, you speak, and you make mistakes. Slowly the
words become familiar, the grammar starts to feel natural, and one day you notice that you are
thinking in the new language without translating. Numbers, colours, days of the week, the names of
food and the parts of the body are usually the first things people learn.

What is the time? It is half past three. Where are you going? I am going to the station to meet a
friend who arrives on the four o'clock train. Could you help me, please? Of course, what do you
need? Thank you very much; that was very kind of you. You're welcome. We'll see each other tomorrow,
won't we? I don't know yet, but I'd like to. They've already left, and she's not coming back today.

Questions about security are questions about trust: who may read this record, who may change it,
and how do we know that the answer we received really came from the service we asked? Keys are
kept secret, certificates expire and are renewed, and every access that is refused is written to
an audit log that cannot be changed without the change being noticed.
0 1 2 3 4 5 6 7 8 9 10 11 12 20 24 32 42 64 100 128 256 512 1000 1024 2048 4096 8080 8099 8100
one two three four five six seven eight nine ten hundred thousand million first second third
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
July August September October November December red green blue yellow black white orange purple
( ) [ ] { } < > = + - * / % & | ! ? . , ; : " ' _ # @ $ ^ ~ ` \ -> => == != <= >= && || :: ...
)";

constexpr size_t kMaxCorpusBytes = 8u << 20;
constexpr size_t kMaxWordSymbols = 48;

class Trainer {
 public:
  int Sym(const std::string& s) {
    auto it = sym_id_.find(s);
    if (it != sym_id_.end()) return it->second;
    int id = int(sym_text_.size());
    sym_text_.push_back(s);
    sym_id_.emplace(s, id);
    return id;
  }
  const std::string& Text(int id) const { return sym_text_[id]; }

  void AddWord(const std::vector<std::string>& chars, int64_t freq) {
    Word w;
    for (const auto& c : chars) w.s.push_back(Sym(c));
    w.freq = freq;
    words_.push_back(std::move(w));
  }

  // Runs merges until `want` returns false or no pair is left. `on_merge`
  // receives (left, right, merged) texts.
  template <typename OnMerge>
  void Run(OnMerge on_merge) {
    for (size_t wi = 0; wi < words_.size(); ++wi) {
      const Word& w = words_[wi];
      for (size_t i = 0; i + 1 < w.s.size(); ++i) Inc(w.s[i], w.s[i + 1], w.freq, int(wi));
    }
    std::vector<int> seen(words_.size(), -1);
    int round = 0;
    while (!heap_.empty()) {
      auto [count, neg_key] = heap_.top();
      heap_.pop();
      uint64_t key = uint64_t(-neg_key);
      auto pc = pair_count_.find(key);
      int64_t cur = pc == pair_count_.end() ? 0 : pc->second;
      if (cur != count) {
        if (cur > 0) heap_.push({cur, neg_key});
        continue;
      }
      if (cur <= 0) continue;
      int l = int(key >> 32), r = int(key & 0xffffffffu);
      std::string merged = sym_text_[l] + sym_text_[r];
      int m = Sym(merged);
      if (!on_merge(sym_text_[l], sym_text_[r], merged)) return;
      ++round;
      std::vector<int> ws = std::move(pair_words_[key]);
      pair_words_.erase(key);
      for (int wi : ws) {
        if (seen[wi] == round) continue;
        seen[wi] = round;
        Word& w = words_[wi];
        auto& s = w.s;
        for (size_t i = 0; i + 1 < s.size(); ++i) {
          if (s[i] != l || s[i + 1] != r) continue;
          if (i > 0) Inc(s[i - 1], l, -w.freq, wi);
          if (i + 2 < s.size()) Inc(r, s[i + 2], -w.freq, wi);
          Inc(l, r, -w.freq, wi);
          s[i] = m;
          s.erase(s.begin() + long(i) + 1);
          if (i > 0) Inc(s[i - 1], m, w.freq, wi);
          if (i + 1 < s.size()) Inc(m, s[i + 1], w.freq, wi);
        }
      }
    }
  }

 private:
  struct Word {
    std::vector<int> s;
    int64_t freq;
  };
  void Inc(int l, int r, int64_t d, int wi) {
    uint64_t key = (uint64_t(uint32_t(l)) << 32) | uint32_t(r);
    int64_t& c = pair_count_[key];
    c += d;
    if (d > 0) {
      heap_.push({c, -int64_t(key)});
      pair_words_[key].push_back(wi);
    }
  }

  std::vector<std::string> sym_text_;
  std::unordered_map<std::string, int> sym_id_;
  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> pair_count_;
  std::unordered_map<uint64_t, std::vector<int>> pair_words_;
  // (count, -key): highest count first, then the smallest key (earliest symbols).
  std::priority_queue<std::pair<int64_t, int64_t>> heap_;
};

size_t Utf8Len(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

bool ValidUtf8Char(std::string_view s) {
  return !s.empty() && (static_cast<unsigned char>(s[0]) < 0x80 || s.size() > 1);
}

Result<VocabData> GenerateSpm(size_t n_vocab, std::string_view text) {
  VocabData v;
  v.kind = VocabKind::kSpm;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {int32_t(TokenType::kUnknown), int32_t(TokenType::kControl), int32_t(TokenType::kControl)};
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  static const char* kHex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
    v.types.push_back(int32_t(TokenType::kByte));
  }
  v.scores.assign(v.tokens.size(), 0.0f);

  // Words: the pre-tokenizer's chunks (letters, digits, other symbols), a
  // leading space becoming "▁"; the first word of a line counts as following
  // a space too, as the encoder prefixes one to the text.
  std::map<std::string, int64_t> words;
  std::map<std::string, int64_t> chars;
  bool line_start = true;
  for (std::string_view chunk : SplitBpeWords(text)) {
    unsigned char c0 = static_cast<unsigned char>(chunk[0]);
    if (c0 == ' ' && chunk.size() > 1 && chunk[1] != ' ') {
      words[std::string(kSpace) + std::string(chunk.substr(1))] += 1;
    } else if (c0 == ' ' || c0 == '\t' || c0 == '\n' || c0 == '\r') {
      line_start = chunk.find('\n') != std::string_view::npos;
      continue;
    } else {
      words[(line_start ? std::string(kSpace) : std::string()) + std::string(chunk)] += 1;
    }
    line_start = false;
  }
  Trainer tr;
  for (const auto& [w, f] : words) {
    std::vector<std::string> cs;
    for (size_t k = 0; k < w.size();) {
      size_t len = Utf8Len(w, k);
      std::string c = w.substr(k, len);
      if (ValidUtf8Char(c)) chars[c] += f;
      cs.push_back(std::move(c));
      k += len;
    }
    if (cs.size() <= kMaxWordSymbols) tr.AddWord(cs, f);
  }
  // "▁" always comes first: without it a lone space would fall back to bytes.
  std::vector<std::pair<int64_t, std::string>> char_order;
  for (const auto& [c, f] : chars) char_order.push_back({c == kSpace ? INT64_MIN : -f, c});
  if (!chars.count(std::string(kSpace))) char_order.push_back({INT64_MIN, std::string(kSpace)});
  std::sort(char_order.begin(), char_order.end());

  const size_t left = n_vocab - v.tokens.size();
  const size_t n_chars = std::max<size_t>(1, std::min(char_order.size(), left / 2));
  const size_t n_pieces = left - n_chars;
  std::unordered_set<std::string> have(v.tokens.begin(), v.tokens.end());
  std::vector<std::string> pieces;
  for (size_t k = 0; k < n_chars; ++k) have.insert(char_order[k].second);
  tr.Run([&](const std::string&, const std::string&, const std::string& merged) {
    if (pieces.size() >= n_pieces) return false;
    if (have.insert(merged).second) pieces.push_back(merged);
    return pieces.size() < n_pieces;
  });
  // Not enough pairs in the text: join word-start pieces with continuations.
  if (pieces.size() < n_pieces) {
    std::vector<std::string> starts, conts;
    for (const auto& p : pieces) (p.compare(0, kSpace.size(), kSpace) == 0 ? starts : conts).push_back(p);
    for (size_t k = 0; k < n_chars; ++k) {
      const std::string& c = char_order[k].second;
      if (c != kSpace) conts.push_back(c);
    }
    size_t base = pieces.size();
    for (size_t a = 0; a < base && pieces.size() < n_pieces; ++a) {
      if (pieces[a].compare(0, kSpace.size(), kSpace) != 0) continue;
      for (size_t b = 0; b < conts.size() && pieces.size() < n_pieces; ++b) {
        std::string joined = pieces[a] + conts[b];
        if (have.insert(joined).second) pieces.push_back(joined);
      }
    }
  }
  for (size_t k = 0; k < pieces.size(); ++k) {
    v.tokens.push_back(pieces[k]);
    v.scores.push_back(-float(k));
    v.types.push_back(int32_t(TokenType::kNormal));
  }
  for (size_t k = 0; k < n_chars; ++k) {
    v.tokens.push_back(char_order[k].second);
    v.scores.push_back(-float(pieces.size() + k));
    v.types.push_back(int32_t(TokenType::kNormal));
  }
  for (size_t k = 0; v.tokens.size() < n_vocab; ++k) {
    v.tokens.push_back("<unused" + std::to_string(k) + ">");
    v.scores.push_back(-1e9f);
    v.types.push_back(int32_t(TokenType::kUnused));
  }
  return v;
}

Result<VocabData> GenerateBpe(size_t n_vocab, std::string_view text) {
  VocabData v;
  v.kind = VocabKind::kBpe;
  v.add_bos = false;
  v.add_space_prefix = false;
  static const char* kSpecials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  std::unordered_set<std::string> have;
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(ByteToBpeChar(uint8_t(b)));
    v.types.push_back(int32_t(TokenType::kNormal));
    have.insert(v.tokens.back());
  }
  for (const char* s : kSpecials) have.insert(s);
  const size_t want = n_vocab - 3;

  std::map<std::string, int64_t> words;
  for (std::string_view chunk : SplitBpeWords(text)) {
    if (chunk.size() <= kMaxWordSymbols) words[std::string(chunk)] += 1;
  }
  Trainer tr;
  for (const auto& [w, f] : words) {
    std::vector<std::string> cs;
    for (char c : w) cs.push_back(ByteToBpeChar(static_cast<unsigned char>(c)));
    tr.AddWord(cs, f);
  }
  if (v.tokens.size() < want) {
    tr.Run([&](const std::string& l, const std::string& r, const std::string& merged) {
      if (v.tokens.size() >= want) return false;
      v.merges.push_back(l + " " + r);
      if (have.insert(merged).second) {
        v.tokens.push_back(merged);
        v.types.push_back(int32_t(TokenType::kNormal));
      }
      return v.tokens.size() < want;
    });
  }
  if (v.tokens.size() < want) {
    const std::string& sp = ByteToBpeChar(' ');
    std::vector<std::string> starts, conts;
    for (size_t k = 256; k < v.tokens.size(); ++k) {
      (v.tokens[k].compare(0, sp.size(), sp) == 0 ? starts : conts).push_back(v.tokens[k]);
    }
    for (int b = 'a'; b <= 'z'; ++b) conts.push_back(std::string(1, char(b)));
    for (size_t a = 0; a < starts.size() && v.tokens.size() < want; ++a) {
      for (size_t b = 0; b < conts.size() && v.tokens.size() < want; ++b) {
        std::string joined = starts[a] + conts[b];
        if (!have.insert(joined).second) continue;
        v.merges.push_back(starts[a] + " " + conts[b]);
        v.tokens.push_back(joined);
        v.types.push_back(int32_t(TokenType::kNormal));
      }
    }
  }
  for (size_t k = 0; v.tokens.size() < want; ++k) {
    v.tokens.push_back("<unused" + std::to_string(k) + ">");
    v.types.push_back(int32_t(TokenType::kUnused));
  }
  for (const char* s : kSpecials) {
    v.tokens.push_back(s);
    v.types.push_back(int32_t(TokenType::kControl));
  }
  v.bos = int32_t(n_vocab - 3);
  v.eos = int32_t(n_vocab - 3);
  return v;
}

}  // namespace

std::string_view BuiltinVocabCorpus() { return kBuiltinCorpus; }

size_t MinGeneratedVocab(VocabKind) { return 260; }

Result<VocabData> GenerateVocab(VocabKind kind, size_t n_vocab, std::string_view corpus) {
  if (n_vocab < MinGeneratedVocab(kind) || n_vocab > 1000000) {
    return Status::InvalidArgument("vocabulary size " + std::to_string(n_vocab) + " must be between " +
                                   std::to_string(MinGeneratedVocab(kind)) + " and 1000000");
  }
  std::string_view text = corpus.empty() ? kBuiltinCorpus : corpus.substr(0, kMaxCorpusBytes);
  return kind == VocabKind::kSpm ? GenerateSpm(n_vocab, text) : GenerateBpe(n_vocab, text);
}

}  // namespace dsmil::llm
