#!/usr/bin/env bash
# install-aws-tools.sh - the AWS emulators the AWS tests run against
# (tests/with_aws.sh), each in a Python virtual environment of its own
# (ministack pins its own botocore): $SDSINF_VENVS/ministack with
# ministack 1.5.33, $SDSINF_VENVS/moto with moto[server] 5.2.5 and
# $SDSINF_VENVS/cfn-lint with cfn-lint 1.58.0, which lints the templates
# offline (it pulls in boto3: kept apart from ministack's botocore)
# (SDSINF_VENVS: /opt/sdsinf-venvs).  Needs python3-venv (install-deps.sh
# installs it); makes only what is missing; run as root or with sudo
# available when SDSINF_VENVS is not writable.
set -eu
venvs=${SDSINF_VENVS:-/opt/sdsinf-venvs}
sudo=""
if ! mkdir -p "$venvs" 2>/dev/null || [ ! -w "$venvs" ]; then
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo mkdir -p "$venvs"
fi
# name, the pip requirement, and a file that exists once it is installed
install_venv() {
    local name=$1 req=$2 probe=$3
    if [ -x "$venvs/$name/bin/$probe" ] &&
        "$venvs/$name/bin/pip" show "${req%%[[=]*}" 2>/dev/null |
            grep -qx "Version: ${req##*==}"; then
        return
    fi
    echo "installing $req into $venvs/$name"
    $sudo python3 -m venv "$venvs/$name"
    $sudo "$venvs/$name/bin/pip" install -q --disable-pip-version-check "$req"
}
install_venv ministack "ministack==1.5.33" ministack
install_venv moto "moto[server]==5.2.5" moto_server
install_venv cfn-lint "cfn-lint==1.58.0" cfn-lint
