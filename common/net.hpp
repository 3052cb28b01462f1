// The one header through which Parley includes Boost.Asio and Boost.Beast.
// Boost 1.74's asio/awaitable.hpp uses std::exchange without <utility>; g++ 12 in C++20 mode
// needs it included first. The implementation is compiled once in asio_impl.cpp
// (BOOST_ASIO_SEPARATE_COMPILATION), so including this header costs templates only.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

namespace parley {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using net::awaitable;
using net::use_awaitable;
}  // namespace parley
