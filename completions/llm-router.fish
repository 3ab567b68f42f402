# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_llm_router_global_optspecs
    string join \n config= h/help V/version
end

function __fish_llm_router_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_llm_router_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_llm_router_using_subcommand
    set -l cmd (__fish_llm_router_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c llm-router -n "__fish_llm_router_needs_command" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_needs_command" -s V -l version -d 'Print version'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "init" -d 'Set up the relay URL, key and port (interactive, or --yes with flags)'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "start" -d 'Start the gateway (in the background unless --foreground)'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "stop" -d 'Stop the background gateway, letting open streams finish'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "status" -d 'Show whether the gateway runs, and what it does'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "models" -d 'List the upstream\'s models with prices, context and capabilities'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "route-test" -d 'Show which model a prompt would be routed to, without answering it'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "config" -d 'Read or change the configuration file'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "usage" -d 'Show requests, spend and savings from the usage database'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "env" -d 'Print the environment variables that point OpenAI clients at the gateway'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "sim" -d 'Run the simulated relay alone (for tests and benchmarks)'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "healthcheck" -d 'Exit 0 when the local gateway answers /health (for container health checks)'
complete -c llm-router -n "__fish_llm_router_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l provider -d 'Use a provider preset (its base URL and usual key variable); see --list-providers' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l base-url -d 'The relay\'s OpenAI-compatible base URL, with or without /v1' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l api-key-env -d 'Name of the environment variable that holds the relay key (preferred: no secret in the file)' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l api-key -d 'The relay key itself; it is stored in the config file (mode 0600)' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l router-key -d 'Key clients must send to the gateway' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l port -d 'Port the gateway listens on [default: 8787]' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l generate-router-key -d 'Generate a random router key'
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l no-probe -d 'Do not ask the relay for its models before saving'
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -s y -l yes -d 'Ask nothing: take the answers from the flags (needs --base-url or --provider)'
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l force -d 'Replace an existing config file'
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -l list-providers -d 'Print the provider presets and exit'
complete -c llm-router -n "__fish_llm_router_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_using_subcommand start" -s p -l port -d 'Port to listen on (overrides server.port)' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand start" -l host -d 'Address to bind (overrides server.host)' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand start" -l wait -d 'Seconds to wait for the background daemon to answer' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand start" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand start" -s f -l foreground -d 'Stay attached to the terminal (for systemd, launchd, Docker)'
complete -c llm-router -n "__fish_llm_router_using_subcommand start" -l demo -d 'Serve a built-in simulated relay instead of a real one (no key needed)'
complete -c llm-router -n "__fish_llm_router_using_subcommand start" -l daemon-child -d 'Internal: this process is the detached daemon started by `start`'
complete -c llm-router -n "__fish_llm_router_using_subcommand start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_using_subcommand stop" -l timeout -d 'Seconds to wait for the daemon to exit (default: its drain period + 10 s; 10 s before SIGKILL with --force)' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand stop" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand stop" -l force -d 'Signal the process instead of asking over the control socket: SIGTERM, then SIGKILL when the timeout runs out'
complete -c llm-router -n "__fish_llm_router_using_subcommand stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_using_subcommand status" -l recent -d 'How many recent routing decisions to show' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand status" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand status" -l json -d 'Print JSON for scripts (`{"running": false}` when not running)'
complete -c llm-router -n "__fish_llm_router_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_using_subcommand models" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand models" -l json -d 'Print JSON instead of a table (same shape with or without a daemon)'
complete -c llm-router -n "__fish_llm_router_using_subcommand models" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_using_subcommand route-test" -l file -d 'Read the prompt from a file' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand route-test" -l mode -d 'The virtual model to route as' -r -f -a "auto\t'General requests'
auto-coding\t'Coding requests'
auto-longtext\t'Long documents'"
complete -c llm-router -n "__fish_llm_router_using_subcommand route-test" -l image -d 'Attach an image: a local file (sent as a data URL) or an http(s) URL' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand route-test" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand route-test" -l tools -d 'Offer a dummy tool, as agents do (only tool-capable models remain candidates)'
complete -c llm-router -n "__fish_llm_router_using_subcommand route-test" -l json -d 'Print the decision as JSON'
complete -c llm-router -n "__fish_llm_router_using_subcommand route-test" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and not __fish_seen_subcommand_from get set unset show path edit help" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and not __fish_seen_subcommand_from get set unset show path edit help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and not __fish_seen_subcommand_from get set unset show path edit help" -f -a "get" -d 'Print the value in force for a dotted key (file, environment or default)'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and not __fish_seen_subcommand_from get set unset show path edit help" -f -a "set" -d 'Set a dotted key in the file; the result is validated before it is written'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and not __fish_seen_subcommand_from get set unset show path edit help" -f -a "unset" -d 'Remove a key from the file so its default applies again'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and not __fish_seen_subcommand_from get set unset show path edit help" -f -a "show" -d 'Print the effective configuration (defaults, file and environment), secrets masked'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and not __fish_seen_subcommand_from get set unset show path edit help" -f -a "path" -d 'Print the path of the config file'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and not __fish_seen_subcommand_from get set unset show path edit help" -f -a "edit" -d 'Open the config file in $VISUAL or $EDITOR, then validate it'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and not __fish_seen_subcommand_from get set unset show path edit help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from get" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from get" -l reveal -d 'Show secrets (router and relay keys) instead of a masked tail'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from set" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from unset" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from unset" -s h -l help -d 'Print help'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from show" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from show" -l json -d 'Print JSON: path, config, and which keys come from the environment'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from path" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from path" -s h -l help -d 'Print help'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from edit" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from edit" -s h -l help -d 'Print help'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "get" -d 'Print the value in force for a dotted key (file, environment or default)'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "set" -d 'Set a dotted key in the file; the result is validated before it is written'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "unset" -d 'Remove a key from the file so its default applies again'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print the effective configuration (defaults, file and environment), secrets masked'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "path" -d 'Print the path of the config file'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "edit" -d 'Open the config file in $VISUAL or $EDITOR, then validate it'
complete -c llm-router -n "__fish_llm_router_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llm-router -n "__fish_llm_router_using_subcommand usage" -l since -d 'Start of the period: 30m, 24h, 7d, 4w (back from now), a UTC date (2026-11-01), or all' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand usage" -l by -d 'Group the breakdown by the model that answered, the UTC day, or the virtual model' -r -f -a "model\t''
day\t''
mode\t''"
complete -c llm-router -n "__fish_llm_router_using_subcommand usage" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand usage" -l json -d 'Print JSON: `{"since", "since_unix_ms", "by", "db", "totals", "rows"}`'
complete -c llm-router -n "__fish_llm_router_using_subcommand usage" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_using_subcommand env" -s s -l shell -d 'Shell syntax to print [default: detected from the environment]' -r -f -a "bash\t''
zsh\t''
fish\t''
powershell\t'PowerShell 5 and 7 (alias: pwsh)'
sh\t'Any POSIX shell: sh, dash, ash, ksh (alias: posix)'"
complete -c llm-router -n "__fish_llm_router_using_subcommand env" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand env" -s u -l unset -d 'Print the commands that remove the variables instead'
complete -c llm-router -n "__fish_llm_router_using_subcommand env" -l json -d 'Print the variables as one JSON object instead of shell code'
complete -c llm-router -n "__fish_llm_router_using_subcommand env" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_using_subcommand completions" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c llm-router -n "__fish_llm_router_using_subcommand sim" -l port -d 'Port to listen on (0 = any free port; the chosen one is printed)' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand sim" -l latency-ms -d 'Delay before every answer, in milliseconds' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand sim" -l chunks -d 'Chunks per streamed answer' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand sim" -l chunk-delay-ms -d 'Delay between streamed chunks, in milliseconds' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand sim" -l require-key -d 'Require this relay key (`Authorization: Bearer <key>`)' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand sim" -l threads -d 'Worker threads (default: all cores)' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand sim" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand sim" -s h -l help -d 'Print help'
complete -c llm-router -n "__fish_llm_router_using_subcommand healthcheck" -l port -d 'Port of the gateway (default: server.port from the config)' -r
complete -c llm-router -n "__fish_llm_router_using_subcommand healthcheck" -l config -d 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)' -r -F
complete -c llm-router -n "__fish_llm_router_using_subcommand healthcheck" -s h -l help -d 'Print help'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "init" -d 'Set up the relay URL, key and port (interactive, or --yes with flags)'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "start" -d 'Start the gateway (in the background unless --foreground)'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "stop" -d 'Stop the background gateway, letting open streams finish'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "status" -d 'Show whether the gateway runs, and what it does'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "models" -d 'List the upstream\'s models with prices, context and capabilities'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "route-test" -d 'Show which model a prompt would be routed to, without answering it'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "config" -d 'Read or change the configuration file'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "usage" -d 'Show requests, spend and savings from the usage database'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "env" -d 'Print the environment variables that point OpenAI clients at the gateway'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "completions" -d 'Print a shell completion script'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "sim" -d 'Run the simulated relay alone (for tests and benchmarks)'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "healthcheck" -d 'Exit 0 when the local gateway answers /health (for container health checks)'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and not __fish_seen_subcommand_from init start stop status models route-test config usage env completions sim healthcheck help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "get" -d 'Print the value in force for a dotted key (file, environment or default)'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "set" -d 'Set a dotted key in the file; the result is validated before it is written'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "unset" -d 'Remove a key from the file so its default applies again'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Print the effective configuration (defaults, file and environment), secrets masked'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "path" -d 'Print the path of the config file'
complete -c llm-router -n "__fish_llm_router_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "edit" -d 'Open the config file in $VISUAL or $EDITOR, then validate it'
