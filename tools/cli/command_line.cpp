#include "tools/cli/command_line.hpp"

#include <boost/program_options.hpp>
#include <sstream>

#include "partition/error.hpp"

namespace trainmem::tools {
namespace po = boost::program_options;
using K = OptionKind;

namespace {
po::options_description make_description() {
  po::options_description desc("Options (each also a YAML scenario key, in snake_case)");
  desc.add_options()("help,h", "show this help");
  for (const auto& o : option_table()) {
    const std::string name = kebab(o.key);
    auto* value = po::value<std::string>();
    if (o.kind == K::boolean) value->implicit_value("true");
    desc.add_options()(name.c_str(), value, std::string(o.help).c_str());
    for (std::string_view alias : aliases_of(o)) {
      auto* alias_value = po::value<std::string>();
      if (o.kind == K::boolean) alias_value->implicit_value("true");
      desc.add_options()(kebab(alias).c_str(), alias_value, ("same as --" + name).c_str());
    }
  }
  desc.add_options()("scenario", po::value<std::string>(), "YAML scenario file (positional)");
  return desc;
}
}  // namespace

std::optional<std::string> take_flag_value(std::vector<std::string>& args, const std::string& name,
                                           const std::string& what) {
  std::optional<std::string> value;
  for (std::size_t i = 0; i < args.size();) {
    if (args[i] == "--" + name) {
      if (i + 1 >= args.size()) throw ConfigError(name, "(missing)", "needs " + what);
      value = args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    } else if (args[i].rfind("--" + name + "=", 0) == 0) {
      value = args[i].substr(name.size() + 3);
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return value;
}

std::string options_help() {
  std::ostringstream out;
  out << make_description();
  return out.str();
}

CommandLine parse_command_line(const std::vector<std::string>& args) {
  const po::options_description desc = make_description();
  po::positional_options_description pos;
  pos.add("scenario", 1);
  po::variables_map vm;
  try {
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(args).options(desc).positional(pos).style(style).run(), vm);
  } catch (const po::unknown_option& e) {
    std::string flag = e.get_option_name();
    std::string bare = flag;
    while (!bare.empty() && bare.front() == '-') bare.erase(bare.begin());
    std::string key = bare;
    for (char& ch : key)
      if (ch == '-') ch = '_';
    const std::string hint = suggest_option(key);
    throw ConfigError("option", flag,
                      "unknown option" + (hint.empty() ? "" : " (did you mean " + flag_of(hint) + "?)"));
  } catch (const po::too_many_positional_options_error&) {
    throw ConfigError("scenario", "(second file)", "only one scenario file may be given");
  } catch (const po::error_with_option_name& e) {
    throw ConfigError("option", e.get_option_name().empty() ? "(command line)" : e.get_option_name(), e.what());
  } catch (const po::error& e) {
    throw ConfigError("option", "(command line)", e.what());
  }
  CommandLine cl;
  cl.help = vm.count("help") != 0;
  if (vm.count("scenario") != 0) cl.scenario_path = vm["scenario"].as<std::string>();
  for (const auto& o : option_table()) {
    const std::string name = kebab(o.key);
    // The long name first, then each alias; two spellings with different values are an error.
    std::optional<SettingValue> value;
    std::vector<std::string> flags{name};
    for (std::string_view alias : aliases_of(o)) flags.push_back(kebab(alias));
    for (const std::string& flag : flags) {
      if (vm.count(flag) == 0) continue;
      SettingValue v{vm[flag].as<std::string>(), "--" + flag};
      if (value && value->text != v.text)
        throw ConfigError(std::string(o.key), value->text + " / " + v.text,
                          "given twice with different values (" + value->origin + " and " + v.origin + ")");
      if (!value) value = v;
    }
    if (value) cl.settings[std::string(o.key)] = *value;
  }
  return cl;
}

}  // namespace trainmem::tools
