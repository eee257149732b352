# under_aws.sh - sourced by the benchmarks over the AWS emulator, whose
# arguments are SDSINF [DATA]: sets sdsinf (made absolute) and data, and
# runs the benchmark again under tests/with_aws.sh (a private emulator,
# checked empty afterwards) unless it runs there already.
set -eu
sdsinf=$(realpath "$1") data=${2:-}
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
    exec bash "$(dirname "${BASH_SOURCE[0]}")/../tests/with_aws.sh" bash "$0" "$sdsinf" "$data"
fi
