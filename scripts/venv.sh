# Sourced by scripts/run and scripts/test: create .venv and install the project when it changed.
ensure_venv() {
    local extras="$1"  # "" or "[test]"
    local stamp=".venv/.installed${extras}"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    # Reinstall only when pyproject.toml is newer than the last install.
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".${extras}"
        touch "$stamp"
    fi
}
export PYTHAINLP_READ_ONLY=1 PYTHAINLP_OFFLINE=1
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
