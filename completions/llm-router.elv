
use builtin;
use str;

set edit:completion:arg-completer[llm-router] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'llm-router'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'llm-router'= {
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Set up the relay URL, key and port (interactive, or --yes with flags)'
            cand start 'Start the gateway (in the background unless --foreground)'
            cand stop 'Stop the background gateway, letting open streams finish'
            cand status 'Show whether the gateway runs, and what it does'
            cand models 'List the upstream''s models with prices, context and capabilities'
            cand route-test 'Show which model a prompt would be routed to, without answering it'
            cand config 'Read or change the configuration file'
            cand usage 'Show requests, spend and savings from the usage database'
            cand env 'Print the environment variables that point OpenAI clients at the gateway'
            cand completions 'Print a shell completion script'
            cand sim 'Run the simulated relay alone (for tests and benchmarks)'
            cand healthcheck 'Exit 0 when the local gateway answers /health (for container health checks)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llm-router;init'= {
            cand --provider 'Use a provider preset (its base URL and usual key variable); see --list-providers'
            cand --base-url 'The relay''s OpenAI-compatible base URL, with or without /v1'
            cand --api-key-env 'Name of the environment variable that holds the relay key (preferred: no secret in the file)'
            cand --api-key 'The relay key itself; it is stored in the config file (mode 0600)'
            cand --router-key 'Key clients must send to the gateway'
            cand --port 'Port the gateway listens on [default: 8787]'
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand --generate-router-key 'Generate a random router key'
            cand --no-probe 'Do not ask the relay for its models before saving'
            cand -y 'Ask nothing: take the answers from the flags (needs --base-url or --provider)'
            cand --yes 'Ask nothing: take the answers from the flags (needs --base-url or --provider)'
            cand --force 'Replace an existing config file'
            cand --list-providers 'Print the provider presets and exit'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'llm-router;start'= {
            cand -p 'Port to listen on (overrides server.port)'
            cand --port 'Port to listen on (overrides server.port)'
            cand --host 'Address to bind (overrides server.host)'
            cand --wait 'Seconds to wait for the background daemon to answer'
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -f 'Stay attached to the terminal (for systemd, launchd, Docker)'
            cand --foreground 'Stay attached to the terminal (for systemd, launchd, Docker)'
            cand --demo 'Serve a built-in simulated relay instead of a real one (no key needed)'
            cand --daemon-child 'Internal: this process is the detached daemon started by `start`'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'llm-router;stop'= {
            cand --timeout 'Seconds to wait for the daemon to exit (default: its drain period + 10 s; 10 s before SIGKILL with --force)'
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand --force 'Signal the process instead of asking over the control socket: SIGTERM, then SIGKILL when the timeout runs out'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'llm-router;status'= {
            cand --recent 'How many recent routing decisions to show'
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand --json 'Print JSON for scripts (`{"running": false}` when not running)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'llm-router;models'= {
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand --json 'Print JSON instead of a table (same shape with or without a daemon)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'llm-router;route-test'= {
            cand --file 'Read the prompt from a file'
            cand --mode 'The virtual model to route as'
            cand --image 'Attach an image: a local file (sent as a data URL) or an http(s) URL'
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand --tools 'Offer a dummy tool, as agents do (only tool-capable models remain candidates)'
            cand --json 'Print the decision as JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'llm-router;config'= {
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand get 'Print the value in force for a dotted key (file, environment or default)'
            cand set 'Set a dotted key in the file; the result is validated before it is written'
            cand unset 'Remove a key from the file so its default applies again'
            cand show 'Print the effective configuration (defaults, file and environment), secrets masked'
            cand path 'Print the path of the config file'
            cand edit 'Open the config file in $VISUAL or $EDITOR, then validate it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llm-router;config;get'= {
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand --reveal 'Show secrets (router and relay keys) instead of a masked tail'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'llm-router;config;set'= {
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'llm-router;config;unset'= {
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'llm-router;config;show'= {
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand --json 'Print JSON: path, config, and which keys come from the environment'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'llm-router;config;path'= {
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'llm-router;config;edit'= {
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'llm-router;config;help'= {
            cand get 'Print the value in force for a dotted key (file, environment or default)'
            cand set 'Set a dotted key in the file; the result is validated before it is written'
            cand unset 'Remove a key from the file so its default applies again'
            cand show 'Print the effective configuration (defaults, file and environment), secrets masked'
            cand path 'Print the path of the config file'
            cand edit 'Open the config file in $VISUAL or $EDITOR, then validate it'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llm-router;config;help;get'= {
        }
        &'llm-router;config;help;set'= {
        }
        &'llm-router;config;help;unset'= {
        }
        &'llm-router;config;help;show'= {
        }
        &'llm-router;config;help;path'= {
        }
        &'llm-router;config;help;edit'= {
        }
        &'llm-router;config;help;help'= {
        }
        &'llm-router;usage'= {
            cand --since 'Start of the period: 30m, 24h, 7d, 4w (back from now), a UTC date (2026-11-01), or all'
            cand --by 'Group the breakdown by the model that answered, the UTC day, or the virtual model'
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand --json 'Print JSON: `{"since", "since_unix_ms", "by", "db", "totals", "rows"}`'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'llm-router;env'= {
            cand -s 'Shell syntax to print [default: detected from the environment]'
            cand --shell 'Shell syntax to print [default: detected from the environment]'
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -u 'Print the commands that remove the variables instead'
            cand --unset 'Print the commands that remove the variables instead'
            cand --json 'Print the variables as one JSON object instead of shell code'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'llm-router;completions'= {
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'llm-router;sim'= {
            cand --port 'Port to listen on (0 = any free port; the chosen one is printed)'
            cand --latency-ms 'Delay before every answer, in milliseconds'
            cand --chunks 'Chunks per streamed answer'
            cand --chunk-delay-ms 'Delay between streamed chunks, in milliseconds'
            cand --require-key 'Require this relay key (`Authorization: Bearer <key>`)'
            cand --threads 'Worker threads (default: all cores)'
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'llm-router;healthcheck'= {
            cand --port 'Port of the gateway (default: server.port from the config)'
            cand --config 'Config file to use instead of the default (also LLM_ROUTER_CONFIG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'llm-router;help'= {
            cand init 'Set up the relay URL, key and port (interactive, or --yes with flags)'
            cand start 'Start the gateway (in the background unless --foreground)'
            cand stop 'Stop the background gateway, letting open streams finish'
            cand status 'Show whether the gateway runs, and what it does'
            cand models 'List the upstream''s models with prices, context and capabilities'
            cand route-test 'Show which model a prompt would be routed to, without answering it'
            cand config 'Read or change the configuration file'
            cand usage 'Show requests, spend and savings from the usage database'
            cand env 'Print the environment variables that point OpenAI clients at the gateway'
            cand completions 'Print a shell completion script'
            cand sim 'Run the simulated relay alone (for tests and benchmarks)'
            cand healthcheck 'Exit 0 when the local gateway answers /health (for container health checks)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'llm-router;help;init'= {
        }
        &'llm-router;help;start'= {
        }
        &'llm-router;help;stop'= {
        }
        &'llm-router;help;status'= {
        }
        &'llm-router;help;models'= {
        }
        &'llm-router;help;route-test'= {
        }
        &'llm-router;help;config'= {
            cand get 'Print the value in force for a dotted key (file, environment or default)'
            cand set 'Set a dotted key in the file; the result is validated before it is written'
            cand unset 'Remove a key from the file so its default applies again'
            cand show 'Print the effective configuration (defaults, file and environment), secrets masked'
            cand path 'Print the path of the config file'
            cand edit 'Open the config file in $VISUAL or $EDITOR, then validate it'
        }
        &'llm-router;help;config;get'= {
        }
        &'llm-router;help;config;set'= {
        }
        &'llm-router;help;config;unset'= {
        }
        &'llm-router;help;config;show'= {
        }
        &'llm-router;help;config;path'= {
        }
        &'llm-router;help;config;edit'= {
        }
        &'llm-router;help;usage'= {
        }
        &'llm-router;help;env'= {
        }
        &'llm-router;help;completions'= {
        }
        &'llm-router;help;sim'= {
        }
        &'llm-router;help;healthcheck'= {
        }
        &'llm-router;help;help'= {
        }
    ]
    $completions[$command]
}
