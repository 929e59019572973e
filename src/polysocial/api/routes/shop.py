"""The shop: products (administrators add and restock them), orders (placing one checks and reduces stock, creates the
order and takes the payment in one transaction), cancellation with refund and restock, shipping, carts, and the
seed's customer report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from polysocial.api.commerce_schemas import (
    CartChange,
    CartLine,
    CartPublic,
    CustomerReportRowPublic,
    OrderCreate,
    OrderPage,
    OrderPublic,
    ProductCreate,
    ProductPage,
    ProductPublic,
    Restock,
)
from polysocial.api.deps import AdminDep, AppDep, CallerDep
from polysocial.api.idempotency import IdempotencyKey, once
from polysocial.api.responses import problems
from polysocial.domain.commerce import Product
from polysocial.domain.consistency import ISOLATION, Operation
from polysocial.domain.errors import NotFound
from polysocial.services import carts, commerce
from polysocial.services.social import MAX_PAGE
from polysocial.stores.relational.protocol import RelationalTx

router = APIRouter(tags=["shop"])

ProductId = Annotated[int, Path(ge=1, le=2**63 - 1)]
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size, at most {MAX_PAGE}")]
After = Annotated[int, Query(ge=0, le=2**63 - 1, description="the last id of the previous page")]
BeforeOrder = Annotated[int | None, Query(ge=1, le=2**63 - 1, description="the last order_id of the previous page")]


@router.post("/products", response_model=ProductPublic, status_code=201, responses=problems(401, 403, 422))
async def create_product(body: ProductCreate, app: AppDep, admin: AdminDep) -> ProductPublic:
    async with app.relational.transaction() as tx:
        return ProductPublic.of(await tx.create_product(body.name.strip(), body.price, body.stock))


@router.get("/products", response_model=ProductPage, responses=problems(401, 422))
async def list_products(app: AppDep, caller: CallerDep, after: After = 0, limit: Limit = 20) -> ProductPage:
    async with app.relational.transaction() as tx:
        found = await tx.products(after=after, limit=limit)
    return ProductPage(
        items=[ProductPublic.of(p) for p in found], next_after=found[-1].product_id if len(found) == limit else None
    )


@router.get("/products/{product_id}", response_model=ProductPublic, responses=problems(401, 404, 422))
async def get_product(product_id: ProductId, app: AppDep, caller: CallerDep) -> ProductPublic:
    async with app.relational.transaction() as tx:
        found = await tx.product(product_id)
    if found is None:
        raise NotFound(f"product {product_id} does not exist")
    return ProductPublic.of(found)


@router.post(
    "/products/{product_id}/restock", response_model=ProductPublic, responses=problems(401, 403, 404, 409, 422)
)
async def restock(
    product_id: ProductId, body: Restock, request: Request, app: AppDep, admin: AdminDep, key: IdempotencyKey = None
) -> JSONResponse:
    async def work(tx: RelationalTx) -> Product:
        found = await tx.restock(product_id, body.quantity)
        if found is None:
            raise NotFound(f"product {product_id} does not exist")
        return found

    return await once(
        app, admin, request, key, body=body.model_dump(mode="json"), operation=Operation.RESTOCK, work=work,
        render=ProductPublic.of,
    )  # fmt: skip


@router.post(
    "/orders",
    response_model=OrderPublic,
    status_code=201,
    responses=problems(401, 404, 409, 422, 503),
    summary="Buy: stock checked and reduced, order created, wallet charged, in one transaction (409 if not)",
)
async def place_order(
    body: OrderCreate, request: Request, app: AppDep, caller: CallerDep, key: IdempotencyKey = None
) -> JSONResponse:
    lines = [(line.product_id, line.quantity) for line in body.items]
    return await once(
        app, caller, request, key, body=body.model_dump(mode="json"), operation=Operation.PLACE_ORDER,
        work=commerce.order_work(caller.user_id, lines), render=OrderPublic.of, status_code=201,
    )  # fmt: skip


@router.get("/orders", response_model=OrderPage, responses=problems(401, 422))
async def my_orders(app: AppDep, caller: CallerDep, before: BeforeOrder = None, limit: Limit = 20) -> OrderPage:
    async with app.relational.transaction() as tx:
        found = await tx.orders(caller.user_id, before=before, limit=limit)
    return OrderPage(
        items=[OrderPublic.of(o) for o in found], next_before=found[-1].order_id if len(found) == limit else None
    )


@router.get("/orders/{order_id}", response_model=OrderPublic, responses=problems(401, 404, 422))
async def get_order(order_id: OrderId, app: AppDep, caller: CallerDep) -> OrderPublic:
    return OrderPublic.of(await commerce.own_order(app.relational, caller.user_id, order_id))


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderPublic,
    responses=problems(401, 404, 409, 422, 503),
    summary="Cancel my paid order: the wallet is refunded and the stock restored",
)
async def cancel_order(
    order_id: OrderId, request: Request, app: AppDep, caller: CallerDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await once(
        app, caller, request, key, body=None, operation=Operation.CANCEL_ORDER,
        work=commerce.cancel_work(caller.user_id, order_id), render=OrderPublic.of,
    )  # fmt: skip


@router.post("/orders/{order_id}/ship", response_model=OrderPublic, responses=problems(401, 403, 404, 409, 422))
async def ship_order(order_id: OrderId, app: AppDep, admin: AdminDep) -> OrderPublic:
    return OrderPublic.of(await commerce.ship(app.relational, order_id))


# -- the cart ---------------------------------------------------------------------------------------------------------


def _cart(lines: dict[int, int]) -> CartPublic:
    return CartPublic(items=[CartLine(product_id=p, quantity=q) for p, q in sorted(lines.items())])


@router.get("/cart", response_model=CartPublic, responses=problems(401))
async def view_cart(app: AppDep, caller: CallerDep) -> CartPublic:
    return _cart(await carts.view(app.relational, app.kv, caller.user_id))


@router.post("/cart/items", response_model=CartPublic, responses=problems(401, 404, 422))
async def change_cart(body: CartChange, app: AppDep, caller: CallerDep) -> CartPublic:
    await carts.change(app.relational, app.kv, caller.user_id, body.product_id, body.quantity)
    return _cart(await carts.view(app.relational, app.kv, caller.user_id))


@router.post(
    "/cart/checkout",
    response_model=OrderPublic,
    status_code=201,
    responses=problems(401, 404, 409, 422, 503),
    summary="Turn my cart into an order (as POST /orders) and empty it",
)
async def checkout(request: Request, app: AppDep, caller: CallerDep, key: IdempotencyKey = None) -> JSONResponse:
    return await once(
        app, caller, request, key, body=None, operation=Operation.PLACE_ORDER,
        work=carts.checkout_work(app.kv, caller.user_id), render=OrderPublic.of, status_code=201,
    )  # fmt: skip


# -- reports ----------------------------------------------------------------------------------------------------------


@router.get(
    "/admin/reports/customers",
    response_model=list[CustomerReportRowPublic],
    responses=problems(401, 403, 422),
    summary="The seed's customer report: orders in the last N days, total spent, average order, more than M orders",
)
async def customer_report(
    app: AppDep,
    admin: AdminDep,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
    min_orders: Annotated[int, Query(ge=0, le=1_000_000)] = 5,
) -> list[CustomerReportRowPublic]:
    async with app.relational.transaction(ISOLATION[Operation.REPORT]) as tx:
        rows = await tx.customer_report(days=days, min_orders=min_orders)
    return [CustomerReportRowPublic.of(r) for r in rows]
