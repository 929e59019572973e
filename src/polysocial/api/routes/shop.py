"""The shop: products (administrators add and restock them), orders (placing one checks and reduces stock, creates the
order and takes the payment in one transaction), cancellation with refund and restock, shipping, carts, and the
seed's customer report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from polysocial.api.deps import AdminDep, CallerDep, CartsDep, ShopDep
from polysocial.api.idempotency import IdempotencyKey, idempotent, json_of, respond
from polysocial.api.pagination import ByNumber, NewestByNumber, listing
from polysocial.api.responses import problems
from polysocial.api.schemas.common import MAX_ID
from polysocial.api.schemas.shop import (
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

router = APIRouter(tags=["shop"])

ProductId = Annotated[int, Path(ge=1, le=MAX_ID)]
OrderId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post(
    "/products",
    response_model=ProductPublic,
    status_code=201,
    responses=problems(401, 403, 422),
    summary="Add a product to the catalogue (administrators)",
)
async def create_product(body: ProductCreate, shop: ShopDep, admin: AdminDep) -> ProductPublic:
    return ProductPublic.of(await shop.create_product(body.name, body.price, body.stock))


@router.get(
    "/products", response_model=ProductPage, responses=listing(401, 422), summary="The catalogue, in product id order"
)
async def list_products(shop: ShopDep, caller: CallerDep, paging: ByNumber) -> ProductPage:
    found = await shop.products(after=paging.start or 0, limit=paging.limit)
    last = found[-1].product_id if len(found) == paging.limit else None
    return ProductPage(
        items=[ProductPublic.of(p) for p in found], next_after=last, next_cursor=paging.next_cursor(last)
    )


@router.get(
    "/products/{product_id}",
    response_model=ProductPublic,
    responses=problems(401, 404, 422),
    summary="One product, with its price and stock",
)
async def get_product(product_id: ProductId, shop: ShopDep, caller: CallerDep) -> ProductPublic:
    return ProductPublic.of(await shop.product(product_id))


@router.post(
    "/products/{product_id}/restock",
    response_model=ProductPublic,
    responses=problems(401, 403, 404, 409, 422),
    summary="Add stock to a product (administrators)",
)
async def restock(
    product_id: ProductId, body: Restock, request: Request, shop: ShopDep, admin: AdminDep, key: IdempotencyKey = None
) -> JSONResponse:
    reply = await shop.restock(
        admin.user_id,
        product_id,
        body.quantity,
        request=idempotent(request, key, body),
        render=json_of(ProductPublic.of),
    )
    return respond(reply)


@router.post(
    "/orders",
    response_model=OrderPublic,
    status_code=201,
    responses=problems(401, 404, 409, 422, 503),
    summary="Buy: stock checked and reduced, order created, wallet charged, in one transaction (409 if not)",
)
async def place_order(
    body: OrderCreate, request: Request, shop: ShopDep, caller: CallerDep, key: IdempotencyKey = None
) -> JSONResponse:
    lines = [(line.product_id, line.quantity) for line in body.items]
    reply = await shop.place_order(
        caller.user_id, lines, request=idempotent(request, key, body), render=json_of(OrderPublic.of)
    )
    return respond(reply)


@router.get("/orders", response_model=OrderPage, responses=listing(401, 422), summary="My orders, newest first")
async def my_orders(shop: ShopDep, caller: CallerDep, paging: NewestByNumber) -> OrderPage:
    found = await shop.orders(caller.user_id, before=paging.start, limit=paging.limit)
    last = found[-1].order_id if len(found) == paging.limit else None
    return OrderPage(items=[OrderPublic.of(o) for o in found], next_before=last, next_cursor=paging.next_cursor(last))


@router.get(
    "/orders/{order_id}", response_model=OrderPublic, responses=problems(401, 404, 422), summary="One of my orders"
)
async def get_order(order_id: OrderId, shop: ShopDep, caller: CallerDep) -> OrderPublic:
    return OrderPublic.of(await shop.order(caller.user_id, order_id))


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderPublic,
    responses=problems(401, 404, 409, 422, 503),
    summary="Cancel my paid order: the wallet is refunded and the stock restored",
)
async def cancel_order(
    order_id: OrderId, request: Request, shop: ShopDep, caller: CallerDep, key: IdempotencyKey = None
) -> JSONResponse:
    reply = await shop.cancel_order(
        caller.user_id, order_id, request=idempotent(request, key), render=json_of(OrderPublic.of)
    )
    return respond(reply)


@router.post(
    "/orders/{order_id}/ship",
    response_model=OrderPublic,
    responses=problems(401, 403, 404, 409, 422),
    summary="Mark an order shipped (administrators)",
)
async def ship_order(order_id: OrderId, shop: ShopDep, admin: AdminDep) -> OrderPublic:
    return OrderPublic.of(await shop.ship_order(order_id))


# -- the cart ---------------------------------------------------------------------------------------------------------


def _cart(lines: dict[int, int]) -> CartPublic:
    return CartPublic(items=[CartLine(product_id=p, quantity=q) for p, q in sorted(lines.items())])


@router.get(
    "/cart",
    response_model=CartPublic,
    responses=problems(401),
    summary="My cart (rebuilt from its durable copy if the live one was lost)",
)
async def view_cart(carts: CartsDep, caller: CallerDep) -> CartPublic:
    return _cart(await carts.view(caller.user_id))


@router.post(
    "/cart/items",
    response_model=CartPublic,
    responses=problems(401, 404, 422),
    summary="Add to or take from a line of my cart",
)
async def change_cart(body: CartChange, carts: CartsDep, caller: CallerDep) -> CartPublic:
    return _cart(await carts.change(caller.user_id, body.product_id, body.quantity))


@router.post(
    "/cart/checkout",
    response_model=OrderPublic,
    status_code=201,
    responses=problems(401, 404, 409, 422, 503),
    summary="Turn my cart into an order (as POST /orders) and empty it",
)
async def checkout(request: Request, carts: CartsDep, caller: CallerDep, key: IdempotencyKey = None) -> JSONResponse:
    reply = await carts.checkout(caller.user_id, request=idempotent(request, key), render=json_of(OrderPublic.of))
    return respond(reply)


# -- reports ----------------------------------------------------------------------------------------------------------


@router.get(
    "/admin/reports/customers",
    response_model=list[CustomerReportRowPublic],
    responses=problems(401, 403, 422),
    summary="The seed's customer report: orders in the last N days, total spent, average order, more than M orders",
)
async def customer_report(
    shop: ShopDep,
    admin: AdminDep,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
    min_orders: Annotated[int, Query(ge=0, le=1_000_000)] = 5,
) -> list[CustomerReportRowPublic]:
    return [CustomerReportRowPublic.of(r) for r in await shop.customer_report(days=days, min_orders=min_orders)]
