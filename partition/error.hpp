// trainmem errors: every failure the library reports is a trainmem::Error; tools/ maps them to exit codes.
// ConfigError names the offending field and value (exit 2); OverflowError is byte arithmetic that would wrap.
#pragma once

#include <stdexcept>
#include <string>

namespace trainmem {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input: a field (as the user spells it, e.g. "tensor_model_parallel_size") with its value and why.
class ConfigError : public Error {
 public:
  ConfigError(std::string field, std::string value, const std::string& reason)
      : Error(field + " = " + value + ": " + reason), field_(std::move(field)), value_(std::move(value)) {}
  const std::string& field() const { return field_; }
  const std::string& value() const { return value_; }

 private:
  std::string field_;
  std::string value_;
};

// Byte or element arithmetic that does not fit in 64 bits; always caused by absurd input sizes.
class OverflowError : public Error {
 public:
  explicit OverflowError(const std::string& what) : Error("arithmetic overflow: " + what) {}
};

}  // namespace trainmem
