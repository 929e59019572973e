"""What operators ask of a running platform: is every role answering, and how far behind is the relay."""

from __future__ import annotations

from polysocial.events.relay import Relay, RelayStatus
from polysocial.services.health import RoleHealth, check_stores
from polysocial.services.passwords import Passwords
from polysocial.services.reconcile import UserGraphReport, reconcile_user_nodes
from polysocial.services.seeding import Loaded, Step, load_network
from polysocial.stores.factory import Stores
from polysocial.synthetic import Network


class Operations:
    def __init__(self, stores: Stores, relay: Relay, passwords: Passwords) -> None:
        self.stores = stores
        self.relay = relay
        self.passwords = passwords

    async def health(self) -> list[RoleHealth]:
        return await check_stores(self.stores.all())

    async def relay_status(self) -> RelayStatus:
        return await self.relay.status()

    async def reconcile(self, *, repair: bool) -> UserGraphReport:
        """Compare the graph's user nodes with the accounts (their source of truth) and repair the drift."""
        return await reconcile_user_nodes(self.stores.relational, self.stores.graph, repair=repair)

    async def load_network(self, network: Network, *, seed: int, password: str, step: Step) -> Loaded:
        """Bulk-load a synthetic network into every store (`polysocial seed-data`, the demo, the bench)."""
        return await load_network(
            network,
            seed=seed,
            password_hash=await self.passwords.hash(password),
            relational=self.stores.relational,
            graph=self.stores.graph,
            documents=self.stores.documents,
            step=step,
        )
