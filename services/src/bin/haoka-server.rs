fn main() -> anyhow::Result<()> {
    anyhow::bail!("haoka-server is not built yet: see the permission-center issue")
}
