# Sourced by scripts/run and scripts/test: create .venv and install the project when it changed.
ensure_venv() {
    local extras="$1"  # "" or "[test]"
    local stamp=".venv/.installed${extras}"
    if [ ! -x .venv/bin/python ]; then
        echo "budgetbot: creating a virtual environment in .venv (first run only)" >&2
        python3 -m venv .venv
    fi
    # Reinstall only when pyproject.toml is newer than the last install.
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "budgetbot: installing the project${extras:+ with its $extras extras} and its dependencies into .venv" \
            "(a minute or two the first time; later runs skip this)" >&2
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".${extras}"
        touch "$stamp"
        echo "budgetbot: installed $(.venv/bin/budgetbot --version)" >&2
    fi
}
export PYTHAINLP_READ_ONLY=1 PYTHAINLP_OFFLINE=1
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
