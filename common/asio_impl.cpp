// The single translation unit that compiles Boost.Asio, its SSL layer and Boost.Beast
// (separate compilation: see common/net.hpp).
#include <utility>

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
