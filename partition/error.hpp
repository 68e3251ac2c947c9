// trainmem errors: every failure the library reports is a trainmem::Error; tools/ maps them to exit codes.
// ConfigError names the offending field and value (exit 2); OverflowError is byte arithmetic that would wrap.
// The message is the one place user text is printed: invisible characters in it are escaped (printable.hpp).
#pragma once

#include <stdexcept>
#include <string>

#include "partition/printable.hpp"

namespace trainmem {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input: a field (as the user spells it, e.g. "tensor_model_parallel_size") with its value and why.
// what() is "FIELD = VALUE: REASON" with each part passed through printable(); the accessors return them as given.
class ConfigError : public Error {
 public:
  ConfigError(std::string field, std::string value, std::string reason)
      : Error(printable(field) + " = " + printable(value) + ": " + printable(reason)),
        field_(std::move(field)),
        value_(std::move(value)),
        reason_(std::move(reason)) {}
  const std::string& field() const { return field_; }
  const std::string& value() const { return value_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string field_;
  std::string value_;
  std::string reason_;
};

// Byte or element arithmetic that does not fit in 64 bits; always caused by absurd input sizes.
class OverflowError : public Error {
 public:
  explicit OverflowError(const std::string& what) : Error("arithmetic overflow: " + what) {}
};

}  // namespace trainmem
