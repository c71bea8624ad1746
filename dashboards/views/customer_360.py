"""Customer 360: one customer, live from the operational store: profile (personal data masked;
support and admin may reveal it, once per customer and session, and each reveal is written to the
audit log), orders and their shipments, tickets, communications, reviews, loyalty, and the
products recommended to them (from the warehouse).

Every store call runs as the signed-in principal, so the store's own rules apply: a merchant user
finds and opens only customers who bought from that merchant (others are "not found") and sees only
that merchant's orders, tickets, messages and reviews. The store's refusals are shown as a
warning with their message.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from dashboards import auth, data, i18n, ui
from dashboards.i18n import Texts
from ops_store.errors import DomainError, NotFound
from ops_store.security.access import Principal, acting_as
from ops_store.security.pii import PiiKeyError
from ops_store.services import communications, customers, feedback, loyalty, orders, tickets

T = Texts(
    en={"title": "Customer 360", "find_by": "Find by", "by_email": "Email", "by_phone": "Phone",
        "by_id": "Customer id", "by_ref": "Customer reference", "query": "Search for",
        "query_help": "Email and phone are matched exactly through the store's blind index; nothing is searched "
                      "in clear.", "find": "Find", "no_match": "No customer with this {by}.",
        "word_email": "email", "word_phone": "phone",
        "bad_id": "A customer id is a whole number.", "no_ref": "No customer with reference {ref!r}.",
        "empty_query": "Type what to search for.", "pick": "Customers found",
        "no_filters": "The sidebar filters do not apply to this page: it shows everything about one customer "
                      "that your role may see.",
        "start": "Find a customer by email, phone, id or reference.",
        "store_down": "The operational store cannot be reached right now; try again shortly.",
        "profile": "Profile", "name": "Name", "email": "Email", "phone": "Phone", "region": "Region",
        "country": "Country", "created": "Customer since", "categories": "Preferred categories",
        "consents": "Marketing consent", "consent_yes": "yes", "consent_no": "no", "addresses": "Addresses",
        "erased": "This customer's personal data was erased.",
        "masked": "Personal data is masked.", "masked_role": "Personal data is masked: your role may not see it.",
        "reveal": "Show personal data", "reveal_help": "Shows name, email, phone and addresses in clear. Each "
                                                       "reveal is recorded in the audit log.",
        "revealed": "Personal data shown in clear for this session; the view was recorded in the audit log.",
        "tab_orders": "Orders", "tab_support": "Tickets & messages", "tab_reviews": "Reviews",
        "tab_loyalty": "Loyalty", "tab_recommendations": "Recommendations",
        "orders": "Orders (latest 50)", "order": "Order", "placed_at": "Placed", "merchant": "Merchant",
        "channel": "Channel", "status": "Status", "total": "Total", "currency": "Currency",
        "shipments": "Shipments of the latest {n} orders", "tracking": "Tracking number", "warehouse": "Warehouse",
        "promised_on": "Promised", "delivered_at": "Delivered", "order_detail": "Order details",
        "lines": "Lines", "sku": "SKU", "qty": "Qty", "unit_price": "Unit price", "discount": "Discount",
        "line_total": "Line total", "qty_shipped": "Shipped", "payment": "Payment: {method}, {status}",
        "events": "History", "at": "When", "from": "From", "to": "To", "actor": "By", "note": "Note",
        "tickets": "Tickets", "ticket": "Ticket", "priority": "Priority", "category": "Category",
        "subject": "Subject", "created_at": "Opened", "resolved_at": "Resolved",
        "first_response_breached": "First response late", "resolution_breached": "Resolution late",
        "satisfaction": "Satisfaction", "communications": "Communications", "occurred_at": "When",
        "direction": "Direction", "agent": "Agent",
        "reviews": "Reviews", "review_count": "Reviews", "average_rating": "Average rating", "rating": "Rating",
        "verified": "Verified purchase", "text": "Text",
        "balance": "Points balance", "points_value": "Points value", "tier": "Tier",
        "multiplier": "Points multiplier", "free_shipping": "Free shipping", "expiring": "Points by expiry date",
        "expires_on": "Expires", "points": "Points", "entries": "Latest points entries", "kind": "Kind",
        "never": "never", "recommendations": "Recommended products", "rank": "Rank", "product": "Product",
        "score": "Score", "available": "Available", "repeat": "Bought before",
        "none": "Nothing yet."},
    zh={"title": "客户 360", "find_by": "查找方式", "by_email": "邮箱", "by_phone": "电话", "by_id": "客户 ID",
        "by_ref": "客户编号", "query": "查找内容", "query_help": "邮箱与电话通过系统的盲索引精确匹配，不会以明文搜索。",
        "find": "查找", "no_match": "没有该{by}的客户。", "word_email": "邮箱", "word_phone": "电话",
        "bad_id": "客户 ID 必须是整数。",
        "no_ref": "没有编号为 {ref!r} 的客户。", "empty_query": "请输入要查找的内容。", "pick": "找到的客户",
        "no_filters": "侧边栏筛选不适用于本页：本页显示您的角色可查看的该客户全部信息。",
        "start": "按邮箱、电话、ID 或编号查找客户。", "store_down": "暂时无法连接业务数据库，请稍后再试。",
        "profile": "客户资料", "name": "姓名", "email": "邮箱", "phone": "电话", "region": "地区", "country": "国家",
        "created": "注册时间", "categories": "偏好品类", "consents": "营销许可", "consent_yes": "是",
        "consent_no": "否", "addresses": "地址", "erased": "该客户的个人数据已被删除。", "masked": "个人数据已脱敏。",
        "masked_role": "个人数据已脱敏：您的角色无权查看。", "reveal": "显示个人数据",
        "reveal_help": "以明文显示姓名、邮箱、电话和地址。每次查看都会记入审计日志。",
        "revealed": "本次会话中个人数据以明文显示；此次查看已记入审计日志。",
        "tab_orders": "订单", "tab_support": "工单与沟通", "tab_reviews": "评价", "tab_loyalty": "会员积分",
        "tab_recommendations": "推荐", "orders": "订单（最近 50 笔）", "order": "订单", "placed_at": "下单时间",
        "merchant": "商户", "channel": "渠道", "status": "状态", "total": "总额", "currency": "币种",
        "shipments": "最近 {n} 笔订单的发货", "tracking": "运单号", "warehouse": "仓库", "promised_on": "承诺送达",
        "delivered_at": "送达时间", "order_detail": "订单详情", "lines": "订单行", "sku": "SKU", "qty": "数量",
        "unit_price": "单价", "discount": "折扣", "line_total": "行金额", "qty_shipped": "已发货",
        "payment": "支付：{method}，{status}", "events": "历史", "at": "时间", "from": "原状态", "to": "新状态",
        "actor": "操作人", "note": "备注", "tickets": "工单", "ticket": "工单", "priority": "优先级",
        "category": "类别", "subject": "主题", "created_at": "创建时间", "resolved_at": "解决时间",
        "first_response_breached": "首次响应超时", "resolution_breached": "解决超时", "satisfaction": "满意度",
        "communications": "沟通记录", "occurred_at": "时间", "direction": "方向", "agent": "客服",
        "reviews": "评价", "review_count": "评价数", "average_rating": "平均评分", "rating": "评分",
        "verified": "已验证购买", "text": "内容", "balance": "积分余额", "points_value": "积分价值", "tier": "等级",
        "multiplier": "积分倍数", "free_shipping": "免运费", "expiring": "按到期日的积分", "expires_on": "到期日",
        "points": "积分", "entries": "最近积分记录", "kind": "类型", "never": "永不过期",
        "recommendations": "推荐商品", "rank": "排名", "product": "商品", "score": "得分", "available": "可售",
        "repeat": "曾购买", "none": "暂无。"},
)

FIND_BY = ("email", "phone", "id", "ref")
ORDER_LIMIT = 50
SHIPMENT_ORDERS = 5
LIST_LIMIT = 50
RECOMMENDATIONS = 10


def _who() -> Principal:
    return st.session_state["principal"]


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a store service as the signed-in principal; its refusal becomes a warning (None)."""
    try:
        with acting_as(_who()):
            return fn(auth.store(), *args, **kwargs)
    except DomainError as error:
        st.warning(error.message)
    except SQLAlchemyError:
        st.error(T("store_down"))
    except PiiKeyError as error:  # the dashboard's personal-data key does not match the store's
        st.error(str(error))
    return None


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Rows as a frame of ``columns``; exact decimals become floats so the tables can format them."""
    frame = pd.DataFrame(rows, columns=columns)
    for column in columns:
        if frame[column].map(lambda v: isinstance(v, Decimal)).any():
            frame[column] = frame[column].map(lambda v: None if v is None else float(v))
    return frame


# --------------------------------------------------------------------------- finding a customer


def _lookup(by: str, query: str) -> tuple[list[int], str | None]:
    """The ids of the customers matching the search, or why there are none (shown until the next
    search). Runs as the signed-in principal: a merchant finds only its own buyers."""
    if not query:
        return [], T("empty_query")
    if by == "id" and not query.isdigit():
        return [], T("bad_id")
    store = auth.store()
    try:
        with acting_as(_who()):
            if by in ("email", "phone"):
                ids = [p["customer_id"] for p in customers.find_customers(store, clear=False, **{by: query})]
                return ids, None if ids else T("no_match", by=T(f"word_{by}"))
            cid = int(query) if by == "id" else customers.customer_id_by_ref(store, query)
            customers.show_customer(store, cid, clear=False)  # may this principal open it?
            return [cid], None
    except NotFound as error:  # by reference: never the id behind a reference the user may not open
        return [], T("no_ref", ref=query) if by == "ref" else error.message
    except DomainError as error:
        return [], error.message
    except SQLAlchemyError:
        return [], T("store_down")
    except PiiKeyError as error:
        return [], str(error)


def _search() -> int | None:
    """The search form; the chosen customer (or why none was found) stays in the session."""
    left, right = st.columns([1, 2])
    labels = {b: T(f"by_{b}") for b in FIND_BY}
    by = left.radio(T("find_by"), FIND_BY, format_func=labels.get, horizontal=True, key="c360_by")
    query = right.text_input(T("query"), key="c360_query", help=T("query_help"))
    if st.button(T("find"), key="c360_find", type="primary"):
        ids, notice = _lookup(by, (query or "").strip())
        st.session_state.update(c360_matches=ids, c360_customer=ids[0] if ids else None, c360_notice=notice)
    if st.session_state.get("c360_notice"):
        st.warning(st.session_state["c360_notice"])
    matches = st.session_state.get("c360_matches") or []
    if len(matches) > 1:
        st.session_state["c360_customer"] = st.selectbox(T("pick"), matches, key="c360_pick")
    return st.session_state.get("c360_customer")


# --------------------------------------------------------------------------- profile


def _profile(customer_id: int) -> dict[str, Any] | None:
    """The profile: masked, or clear once revealed in this session (one audited read per reveal)."""
    masked = _call(customers.show_customer, customer_id, clear=False)
    if masked is None:
        return None
    if masked["erased"]:
        st.info(T("erased"))
        return masked
    if not _who().may("pii.read"):
        st.caption(T("masked_role"))
        return masked
    revealed: dict[int, dict[str, Any]] = st.session_state.get("revealed") or {}
    if customer_id in revealed:
        st.caption(T("revealed"))
        return revealed[customer_id]
    if st.button(T("reveal"), key="c360_reveal", help=T("reveal_help")):
        clear = _call(customers.show_customer, customer_id, clear=True)  # writes the audit entry
        if clear is not None:
            st.session_state["revealed"] = {**revealed, customer_id: clear}
            st.caption(T("revealed"))
            return clear
    st.caption(T("masked"))
    return masked


def _show_profile(profile: dict[str, Any]) -> None:
    st.subheader(f"{profile['name'] or '–'} · {profile['customer_ref']}")
    left, middle, right = st.columns(3)
    left.markdown(f"**{T('email')}:** {profile['email'] or '–'}  \n**{T('phone')}:** {profile['phone'] or '–'}")
    middle.markdown(f"**{T('region')}:** {profile['region'] or '–'}  \n**{T('country')}:** "
                    f"{profile['country'] or '–'}  \n**{T('created')}:** {i18n.day(profile['created_at'])}")
    consent = ", ".join(f"{channel} {T('consent_yes') if c['granted'] else T('consent_no')}"
                        for channel, c in profile["consents"].items())
    right.markdown(f"**{T('consents')}:** {consent}  \n**{T('categories')}:** "
                   f"{', '.join(profile['preferred_categories']) or '–'}")
    if profile["addresses"]:
        st.markdown(f"**{T('addresses')}**")
        for a in profile["addresses"]:
            parts = [a["street"], a["postal_code"], a["city"], a["region"], a["country"]]
            st.markdown(f"- {a['kind']}: {', '.join(str(p) for p in parts if p)}")


# --------------------------------------------------------------------------- activity


def _orders(profile: dict[str, Any]) -> None:
    st.markdown(f"**{T('orders')}**")
    listed = _call(orders.list_orders, customer_ref=profile["customer_ref"], limit=ORDER_LIMIT)
    if listed is None:
        return
    if not listed:
        st.caption(T("none"))
        return
    frame = _frame(listed, ["order_id", "placed_at", "merchant", "channel", "status", "total", "currency"])
    ui.table(frame, "customer_orders", column_config={
        "order_id": st.column_config.NumberColumn(T("order"), format="%d"),
        "placed_at": st.column_config.DatetimeColumn(T("placed_at"), format="localized"),
        "merchant": T("merchant"), "channel": T("channel"), "status": T("status"),
        "total": st.column_config.NumberColumn(T("total"), format="%.2f"), "currency": T("currency")})
    details = {o["order_id"]: o for o in listed[:SHIPMENT_ORDERS]}
    parcels = []
    for order_id in details:
        view = _call(orders.get_order, order_id)
        for s in (view or {}).get("shipments", []):
            parcels.append({"order_id": order_id, **s})
    st.markdown(f"**{T('shipments', n=len(details))}**")
    ui.table(_frame(parcels, ["order_id", "tracking_number", "warehouse", "status", "promised_on", "delivered_at"]),
             "customer_shipments", column_config={
                 "order_id": st.column_config.NumberColumn(T("order"), format="%d"),
                 "tracking_number": T("tracking"), "warehouse": T("warehouse"), "status": T("status"),
                 "promised_on": st.column_config.DateColumn(T("promised_on")),
                 "delivered_at": st.column_config.DatetimeColumn(T("delivered_at"), format="localized")})
    labels = {o["order_id"]: f"#{o['order_id']} · {i18n.day(o['placed_at'])} · {o['status']}" for o in listed}
    chosen = st.selectbox(T("order_detail"), list(labels), format_func=labels.get, key="c360_order")
    view = _call(orders.get_order, chosen) if chosen is not None else None
    if view is None:
        return
    if view["payment"]:
        st.caption(T("payment", method=view["payment"]["method"], status=view["payment"]["status"]))
    ui.table(_frame(view["lines"], ["line_no", "sku", "qty", "unit_price", "discount", "line_total", "qty_shipped"]),
             "customer_order_lines", column_config={
                 "line_no": "#", "sku": T("sku"), "qty": T("qty"),
                 "unit_price": st.column_config.NumberColumn(T("unit_price"), format="%.2f"),
                 "discount": st.column_config.NumberColumn(T("discount"), format="%.2f"),
                 "line_total": st.column_config.NumberColumn(T("line_total"), format="%.2f"),
                 "qty_shipped": T("qty_shipped")})
    ui.table(_frame(view["events"], ["at", "from", "to", "actor", "note"]), "customer_order_events", column_config={
        "at": st.column_config.DatetimeColumn(T("at"), format="localized"), "from": T("from"), "to": T("to"),
        "actor": T("actor"), "note": T("note")})


def _support(customer_id: int) -> None:
    st.markdown(f"**{T('tickets')}**")
    listed = _call(tickets.list_tickets, customer_id=customer_id, limit=LIST_LIMIT)
    if listed is not None:
        ui.table(_frame(listed, ["ticket_id", "created_at", "status", "priority", "category", "subject", "merchant",
                                 "first_response_breached", "resolution_breached", "resolved_at", "satisfaction"]),
                 "customer_tickets", column_config={
                     "ticket_id": st.column_config.NumberColumn(T("ticket"), format="%d"),
                     "created_at": st.column_config.DatetimeColumn(T("created_at"), format="localized"),
                     "status": T("status"), "priority": T("priority"), "category": T("category"),
                     "subject": T("subject"), "merchant": T("merchant"),
                     "first_response_breached": st.column_config.CheckboxColumn(T("first_response_breached")),
                     "resolution_breached": st.column_config.CheckboxColumn(T("resolution_breached")),
                     "resolved_at": st.column_config.DatetimeColumn(T("resolved_at"), format="localized"),
                     "satisfaction": T("satisfaction")})
    st.markdown(f"**{T('communications')}**")
    listed = _call(communications.list_communications, customer_id, limit=LIST_LIMIT)
    if listed is not None:
        ui.table(_frame(listed, ["occurred_at", "direction", "channel", "subject", "agent", "order_id"]),
                 "customer_communications", column_config={
                     "occurred_at": st.column_config.DatetimeColumn(T("occurred_at"), format="localized"),
                     "direction": T("direction"), "channel": T("channel"), "subject": T("subject"),
                     "agent": T("agent"), "order_id": st.column_config.NumberColumn(T("order"), format="%d")})


def _reviews(customer_id: int) -> None:
    listed = _call(feedback.list_reviews, customer_id=customer_id, limit=LIST_LIMIT)
    if listed is None:
        return
    row = st.columns(4)
    ui.kpi(row[0], T("review_count"), listed["count"], None, i18n.number)
    ui.kpi(row[1], T("average_rating"), listed["average_rating"], None,
           lambda v: i18n.number(None if v is None else float(v), 2))
    ui.table(_frame(listed["reviews"], ["created_at", "sku", "merchant", "rating", "verified_purchase", "text"]),
             "customer_reviews", column_config={
                 "created_at": st.column_config.DatetimeColumn(T("at"), format="localized"), "sku": T("sku"),
                 "merchant": T("merchant"), "rating": T("rating"),
                 "verified_purchase": st.column_config.CheckboxColumn(T("verified")), "text": T("text")})


def _loyalty(customer_id: int) -> None:
    account = _call(loyalty.account_view, customer_id, limit=LIST_LIMIT)
    if account is None:
        return
    row = st.columns(4)
    ui.kpi(row[0], T("balance"), account["balance"], None, i18n.number)
    ui.kpi(row[1], T("points_value"), float(account["value"]), None, lambda v: i18n.number(v, 2))
    ui.kpi(row[2], T("tier"), account["tier"] or "–", None, str)
    ui.kpi(row[3], T("multiplier"), float(account["points_multiplier"]), None, lambda v: f"×{i18n.number(v, 2)}")
    st.caption(f"{T('free_shipping')}: {T('consent_yes') if account['free_shipping'] else T('consent_no')}")
    st.markdown(f"**{T('expiring')}**")
    expiring = [{"expires_on": e["expires_on"] or T("never"), "points": e["points"]} for e in account["expiring"]]
    ui.table(_frame(expiring, ["expires_on", "points"]), "customer_points_expiry",
             column_config={"expires_on": T("expires_on"), "points": T("points")})
    st.markdown(f"**{T('entries')}**")
    ui.table(_frame(account["entries"], ["at", "kind", "points", "order_id", "expires_on", "note"]),
             "customer_points_entries", column_config={
                 "at": st.column_config.DatetimeColumn(T("at"), format="localized"), "kind": T("kind"),
                 "points": T("points"), "order_id": st.column_config.NumberColumn(T("order"), format="%d"),
                 "expires_on": st.column_config.DateColumn(T("expires_on")), "note": T("note")})


def _recommendations(customer_id: int) -> None:
    st.markdown(f"**{T('recommendations')}**")
    where, params = data.scoped(data.Columns(merchant="r.merchant_id"), None, extra=["r.customer_id = ?"],
                                extra_params=[customer_id])
    frame = data.fetch(
        "SELECT r.rank, r.sku, r.product_name, r.category, r.score, r.available, r.is_repeat_product "
        f"FROM marts.customer_recommendations r {where} ORDER BY r.rank LIMIT {RECOMMENDATIONS}",
        params, needs=["marts.customer_recommendations"])
    ui.table(frame, "customer_recommendations", column_config={
        "rank": T("rank"), "sku": T("sku"), "product_name": T("product"), "category": T("category"),
        "score": st.column_config.NumberColumn(T("score"), format="%.3f"), "available": T("available"),
        "is_repeat_product": st.column_config.CheckboxColumn(T("repeat"))})


def render() -> None:
    st.title(T("title"))
    st.caption(T("no_filters"))
    customer_id = _search()
    if customer_id is None:
        st.info(T("start"))
        return
    profile = _profile(customer_id)
    if profile is None:
        return
    _show_profile(profile)
    tabs = st.tabs([T("tab_orders"), T("tab_support"), T("tab_reviews"), T("tab_loyalty"), T("tab_recommendations")])
    with tabs[0]:
        _orders(profile)
    with tabs[1]:
        _support(customer_id)
    with tabs[2]:
        _reviews(customer_id)
    with tabs[3]:
        _loyalty(customer_id)
    with tabs[4]:
        ui.section(lambda: _recommendations(customer_id))


render()
