fn main() -> anyhow::Result<()> {
    anyhow::bail!("haoka-proxy is not wired up yet: see the proxy core issue")
}
