# Sourced by the capture scripts: copy NAME puts a copy of the working tree, as a clone
# would hold it, at $scratch/NAME (needs $repo and $scratch).
copy() {
    mkdir -p "$scratch/$1"
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
        (cd "$repo" && xargs -0 cp --parents -t "$scratch/$1")
}
