"""One module per tab: UI only. Each build(ctx) lays out its components, wires them to studio
services, and registers in ctx the handles other tabs need."""
