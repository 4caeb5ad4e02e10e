#include "net/http.h"
#include "core/log.h"
#include "core/strings.h"

#include <cstdio>

namespace dsmil::net {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Calls fn(name, value) for each '&'-separated parameter of a query (raw).
template <typename Fn>
bool ForEachParam(std::string_view query, std::string_view want, Fn fn) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string_view raw_name = item.substr(0, eq);
    std::string_view raw_value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    if (PercentDecode(raw_name, true) == want) {
      fn(raw_value);
      return true;
    }
  }
  return false;
}

}  // namespace

bool HeaderNameEquals(std::string_view a, std::string_view b) { return EqualsIgnoreCaseAscii(a, b); }

bool CertCoversTenant(const HttpRequest& req, std::string_view tenant) {
  if (!req.client_cert_cn || tenant.empty()) return false;
  for (const auto& t : req.client_cert_tenants) {
    if (t == "*" || t == tenant) return true;
  }
  return false;
}

std::string_view FindHeader(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (HeaderNameEquals(n, name)) return v;
  }
  return {};
}

std::string HttpRequest::QueryParam(std::string_view name) const {
  std::string out;
  ForEachParam(query, name, [&](std::string_view raw) { out = PercentDecode(raw, true); });
  return out;
}

bool HttpRequest::HasQueryParam(std::string_view name) const {
  return ForEachParam(query, name, [](std::string_view) {});
}

HttpResponse HttpResponse::JsonError(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = "{\"error\":" + JsonQuote(message) + "}";
  return r;
}

std::string JsonQuote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendJsonString(out, s);  // core/log.h: also turns invalid UTF-8 into U+FFFD
  return out;
}

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view HttpReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

}  // namespace dsmil::net
