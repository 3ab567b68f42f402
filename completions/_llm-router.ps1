
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'llm-router' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'llm-router'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'llm-router' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Set up the relay URL, key and port (interactive, or --yes with flags)')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start the gateway (in the background unless --foreground)')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop the background gateway, letting open streams finish')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show whether the gateway runs, and what it does')
            [CompletionResult]::new('models', 'models', [CompletionResultType]::ParameterValue, 'List the upstream''s models with prices, context and capabilities')
            [CompletionResult]::new('route-test', 'route-test', [CompletionResultType]::ParameterValue, 'Show which model a prompt would be routed to, without answering it')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Read or change the configuration file')
            [CompletionResult]::new('usage', 'usage', [CompletionResultType]::ParameterValue, 'Show requests, spend and savings from the usage database')
            [CompletionResult]::new('env', 'env', [CompletionResultType]::ParameterValue, 'Print the environment variables that point OpenAI clients at the gateway')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('sim', 'sim', [CompletionResultType]::ParameterValue, 'Run the simulated relay alone (for tests and benchmarks)')
            [CompletionResult]::new('healthcheck', 'healthcheck', [CompletionResultType]::ParameterValue, 'Exit 0 when the local gateway answers /health (for container health checks)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llm-router;init' {
            [CompletionResult]::new('--provider', '--provider', [CompletionResultType]::ParameterName, 'Use a provider preset (its base URL and usual key variable); see --list-providers')
            [CompletionResult]::new('--base-url', '--base-url', [CompletionResultType]::ParameterName, 'The relay''s OpenAI-compatible base URL, with or without /v1')
            [CompletionResult]::new('--api-key-env', '--api-key-env', [CompletionResultType]::ParameterName, 'Name of the environment variable that holds the relay key (preferred: no secret in the file)')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'The relay key itself; it is stored in the config file (mode 0600)')
            [CompletionResult]::new('--router-key', '--router-key', [CompletionResultType]::ParameterName, 'Key clients must send to the gateway')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port the gateway listens on [default: 8787]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('--generate-router-key', '--generate-router-key', [CompletionResultType]::ParameterName, 'Generate a random router key')
            [CompletionResult]::new('--no-probe', '--no-probe', [CompletionResultType]::ParameterName, 'Do not ask the relay for its models before saving')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Ask nothing: take the answers from the flags (needs --base-url or --provider)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Ask nothing: take the answers from the flags (needs --base-url or --provider)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace an existing config file')
            [CompletionResult]::new('--list-providers', '--list-providers', [CompletionResultType]::ParameterName, 'Print the provider presets and exit')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'llm-router;start' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Port to listen on (overrides server.port)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on (overrides server.port)')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Address to bind (overrides server.host)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Seconds to wait for the background daemon to answer')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Stay attached to the terminal (for systemd, launchd, Docker)')
            [CompletionResult]::new('--foreground', '--foreground', [CompletionResultType]::ParameterName, 'Stay attached to the terminal (for systemd, launchd, Docker)')
            [CompletionResult]::new('--demo', '--demo', [CompletionResultType]::ParameterName, 'Serve a built-in simulated relay instead of a real one (no key needed)')
            [CompletionResult]::new('--daemon-child', '--daemon-child', [CompletionResultType]::ParameterName, 'Internal: this process is the detached daemon started by `start`')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'llm-router;stop' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for the daemon to exit (default: its drain period + 10 s; 10 s before SIGKILL with --force)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Signal the process instead of asking over the control socket: SIGTERM, then SIGKILL when the timeout runs out')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'llm-router;status' {
            [CompletionResult]::new('--recent', '--recent', [CompletionResultType]::ParameterName, 'How many recent routing decisions to show')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON for scripts (`{"running": false}` when not running)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'llm-router;models' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON instead of a table (same shape with or without a daemon)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'llm-router;route-test' {
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Read the prompt from a file')
            [CompletionResult]::new('--mode', '--mode', [CompletionResultType]::ParameterName, 'The virtual model to route as')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'Attach an image: a local file (sent as a data URL) or an http(s) URL')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('--tools', '--tools', [CompletionResultType]::ParameterName, 'Offer a dummy tool, as agents do (only tool-capable models remain candidates)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the decision as JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'llm-router;config' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print the value in force for a dotted key (file, environment or default)')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Set a dotted key in the file; the result is validated before it is written')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Remove a key from the file so its default applies again')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the effective configuration (defaults, file and environment), secrets masked')
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Print the path of the config file')
            [CompletionResult]::new('edit', 'edit', [CompletionResultType]::ParameterValue, 'Open the config file in $VISUAL or $EDITOR, then validate it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llm-router;config;get' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('--reveal', '--reveal', [CompletionResultType]::ParameterName, 'Show secrets (router and relay keys) instead of a masked tail')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'llm-router;config;set' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'llm-router;config;unset' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'llm-router;config;show' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON: path, config, and which keys come from the environment')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'llm-router;config;path' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'llm-router;config;edit' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'llm-router;config;help' {
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print the value in force for a dotted key (file, environment or default)')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Set a dotted key in the file; the result is validated before it is written')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Remove a key from the file so its default applies again')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the effective configuration (defaults, file and environment), secrets masked')
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Print the path of the config file')
            [CompletionResult]::new('edit', 'edit', [CompletionResultType]::ParameterValue, 'Open the config file in $VISUAL or $EDITOR, then validate it')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llm-router;config;help;get' {
            break
        }
        'llm-router;config;help;set' {
            break
        }
        'llm-router;config;help;unset' {
            break
        }
        'llm-router;config;help;show' {
            break
        }
        'llm-router;config;help;path' {
            break
        }
        'llm-router;config;help;edit' {
            break
        }
        'llm-router;config;help;help' {
            break
        }
        'llm-router;usage' {
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Start of the period: 30m, 24h, 7d, 4w (back from now), a UTC date (2026-11-01), or all')
            [CompletionResult]::new('--by', '--by', [CompletionResultType]::ParameterName, 'Group the breakdown by the model that answered, the UTC day, or the virtual model')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON: `{"since", "since_unix_ms", "by", "db", "totals", "rows"}`')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'llm-router;env' {
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Shell syntax to print [default: detected from the environment]')
            [CompletionResult]::new('--shell', '--shell', [CompletionResultType]::ParameterName, 'Shell syntax to print [default: detected from the environment]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-u', '-u', [CompletionResultType]::ParameterName, 'Print the commands that remove the variables instead')
            [CompletionResult]::new('--unset', '--unset', [CompletionResultType]::ParameterName, 'Print the commands that remove the variables instead')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the variables as one JSON object instead of shell code')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'llm-router;completions' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'llm-router;sim' {
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on (0 = any free port; the chosen one is printed)')
            [CompletionResult]::new('--latency-ms', '--latency-ms', [CompletionResultType]::ParameterName, 'Delay before every answer, in milliseconds')
            [CompletionResult]::new('--chunks', '--chunks', [CompletionResultType]::ParameterName, 'Chunks per streamed answer')
            [CompletionResult]::new('--chunk-delay-ms', '--chunk-delay-ms', [CompletionResultType]::ParameterName, 'Delay between streamed chunks, in milliseconds')
            [CompletionResult]::new('--require-key', '--require-key', [CompletionResultType]::ParameterName, 'Require this relay key (`Authorization: Bearer <key>`)')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Worker threads (default: all cores)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'llm-router;healthcheck' {
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port of the gateway (default: server.port from the config)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'llm-router;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Set up the relay URL, key and port (interactive, or --yes with flags)')
            [CompletionResult]::new('start', 'start', [CompletionResultType]::ParameterValue, 'Start the gateway (in the background unless --foreground)')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop the background gateway, letting open streams finish')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show whether the gateway runs, and what it does')
            [CompletionResult]::new('models', 'models', [CompletionResultType]::ParameterValue, 'List the upstream''s models with prices, context and capabilities')
            [CompletionResult]::new('route-test', 'route-test', [CompletionResultType]::ParameterValue, 'Show which model a prompt would be routed to, without answering it')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Read or change the configuration file')
            [CompletionResult]::new('usage', 'usage', [CompletionResultType]::ParameterValue, 'Show requests, spend and savings from the usage database')
            [CompletionResult]::new('env', 'env', [CompletionResultType]::ParameterValue, 'Print the environment variables that point OpenAI clients at the gateway')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('sim', 'sim', [CompletionResultType]::ParameterValue, 'Run the simulated relay alone (for tests and benchmarks)')
            [CompletionResult]::new('healthcheck', 'healthcheck', [CompletionResultType]::ParameterValue, 'Exit 0 when the local gateway answers /health (for container health checks)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'llm-router;help;init' {
            break
        }
        'llm-router;help;start' {
            break
        }
        'llm-router;help;stop' {
            break
        }
        'llm-router;help;status' {
            break
        }
        'llm-router;help;models' {
            break
        }
        'llm-router;help;route-test' {
            break
        }
        'llm-router;help;config' {
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print the value in force for a dotted key (file, environment or default)')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Set a dotted key in the file; the result is validated before it is written')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Remove a key from the file so its default applies again')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the effective configuration (defaults, file and environment), secrets masked')
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Print the path of the config file')
            [CompletionResult]::new('edit', 'edit', [CompletionResultType]::ParameterValue, 'Open the config file in $VISUAL or $EDITOR, then validate it')
            break
        }
        'llm-router;help;config;get' {
            break
        }
        'llm-router;help;config;set' {
            break
        }
        'llm-router;help;config;unset' {
            break
        }
        'llm-router;help;config;show' {
            break
        }
        'llm-router;help;config;path' {
            break
        }
        'llm-router;help;config;edit' {
            break
        }
        'llm-router;help;usage' {
            break
        }
        'llm-router;help;env' {
            break
        }
        'llm-router;help;completions' {
            break
        }
        'llm-router;help;sim' {
            break
        }
        'llm-router;help;healthcheck' {
            break
        }
        'llm-router;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
