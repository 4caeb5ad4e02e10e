// The Asio/Beast set-up shared by the HTTP server and client (http_server.cc,
// http_client.cc): include it first among the Boost headers. Internal to
// src/net. (clang's -fsanitize=function cannot emit Asio's coroutines, so
// the sanitizer build turns it off for those two files: src/net/CMakeLists.txt.)
#pragma once

#ifndef DSMIL_INTERNAL_NET
#error "net/asio_internal.h is internal to dsmil_net: include its public headers"
#endif

// Asio's coroutine headers need <utility> first with Boost 1.74 and g++ 12.
#include <utility>
// Asio 1.18 enables co_await under clang only with <experimental/coroutine>
// (libc++); with libstdc++ clang uses the standard <coroutine>, which works.
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(BOOST_ASIO_HAS_CO_AWAIT)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#endif

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace dsmil::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

}  // namespace dsmil::net
