"""English and Simplified Chinese: the words of each page and locale-aware numbers, money and dates.

Every module keeps its own words in a ``Texts`` (so a page's strings sit beside the page); the
language is the session's choice (``st.session_state["lang"]``), English by default. A key missing
in Chinese falls back to English, a key missing in English is a bug and raises.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import streamlit as st
from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import format_currency, format_decimal, format_percent

LANGUAGES = {"en": "English", "zh": "简体中文"}
LOCALES = {"en": "en_US", "zh": "zh_Hans_CN"}


def lang() -> str:
    value = st.session_state.get("lang", "en")
    return value if value in LANGUAGES else "en"


def locale() -> Locale:
    return Locale.parse(LOCALES[lang()])


class Texts:
    """One module's strings in both languages; ``tr("key", n=3)`` formats with str.format."""

    def __init__(self, en: dict[str, str], zh: dict[str, str]) -> None:
        unknown = set(zh) - set(en)
        if unknown:
            raise KeyError(f"Chinese strings without an English original: {sorted(unknown)}")
        self.en, self.zh = en, zh

    def __call__(self, key: str, **values: Any) -> str:
        text = (self.zh.get(key) if lang() == "zh" else None) or self.en[key]
        return text.format(**values) if values else text


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: Any, decimals: int = 0) -> str:
    if _missing(value):
        return "–"
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=locale())


def money(value: Any, currency: str | None) -> str:
    if _missing(value):
        return "–"
    if not currency:
        return number(value, 2)
    return format_currency(Decimal(str(value)), currency, locale=locale())


def percent(value: Any, decimals: int = 1) -> str:
    if _missing(value):
        return "–"
    return format_percent(value, format="#,##0." + "0" * decimals + "%", locale=locale())


def day(value: date | datetime | str | None) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format="medium", locale=locale())


def month(value: date | datetime | str | None) -> str:
    """A month as the locale writes it (Dec 2026, 2026年12月)."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return format_skeleton("yMMM", value, locale=locale())


def moment(value: datetime | None) -> str:
    if value is None:
        return "–"
    return format_datetime(value, format="medium", locale=locale())


COMMON = Texts(
    en={
        "app_title": "ecom analytics",
        "language": "Language",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "username": "User name",
        "password": "Password",
        "bad_login": "Unknown user or wrong password.",
        "too_many": "Too many failed attempts; wait {seconds} seconds and try again.",
        "session_expired": "Your session ended after {minutes} minutes without activity; please sign in again.",
        "signed_in_as": "Signed in as **{user}** ({role}{merchant})",
        "filters": "Filters",
        "date_range": "Date range",
        "merchant": "Merchant",
        "category": "Category",
        "channel": "Channel",
        "region": "Region",
        "all": "all",
        "no_snapshot": "No warehouse has been published yet. Build it with `ecom pipeline run` "
                       "(or `make demo`), then reload this page.",
        "missing_mart": "The mart `{mart}` is not in the published warehouse yet. Build it with "
                        "`ecom pipeline run`, then reload this page.",
        "no_rows": "No data for these filters.",
        "download_csv": "Download CSV",
        "data_as_of": "Data as published {when}",
        "previous_period": "vs previous {days} days",
        "filters_ignored": "Filters not applicable here: {names}",
        "page_overview": "Overview",
        "page_sales": "Sales",
        "page_inventory": "Inventory",
        "page_forecast": "Forecast & replenishment",
        "page_customers": "Customers",
        "page_customer_360": "Customer 360",
        "page_recommendations": "Recommendations",
        "page_marketing": "Marketing",
        "page_service": "Service",
        "page_data_health": "Data health",
        "role_admin": "admin", "role_merchant": "merchant", "role_analyst": "analyst",
        "role_support": "support", "role_engineer": "engineer",
        "not_allowed": "Your role may not see this page.",
        "portal_only": "This part covers the whole shop (every merchant) and is not shown to merchant accounts.",
    },
    zh={
        "app_title": "ecom 数据分析",
        "language": "语言",
        "sign_in": "登录",
        "sign_out": "退出登录",
        "username": "用户名",
        "password": "密码",
        "bad_login": "用户不存在或密码错误。",
        "too_many": "失败次数过多，请等待 {seconds} 秒后再试。",
        "session_expired": "您已 {minutes} 分钟无操作，会话已结束，请重新登录。",
        "signed_in_as": "当前用户 **{user}**（{role}{merchant}）",
        "filters": "筛选",
        "date_range": "日期范围",
        "merchant": "商户",
        "category": "品类",
        "channel": "渠道",
        "region": "地区",
        "all": "全部",
        "no_snapshot": "尚未发布数据仓库。请先运行 `ecom pipeline run`（或 `make demo`）构建，然后刷新本页。",
        "missing_mart": "已发布的数据仓库中还没有数据集市 `{mart}`。请运行 `ecom pipeline run` 构建，然后刷新本页。",
        "no_rows": "当前筛选条件下没有数据。",
        "download_csv": "下载 CSV",
        "data_as_of": "数据发布于 {when}",
        "previous_period": "对比前 {days} 天",
        "filters_ignored": "本页不适用的筛选：{names}",
        "page_overview": "概览",
        "page_sales": "销售",
        "page_inventory": "库存",
        "page_forecast": "预测与补货",
        "page_customers": "客户",
        "page_customer_360": "客户 360",
        "page_recommendations": "推荐",
        "page_marketing": "营销",
        "page_service": "服务",
        "page_data_health": "数据健康",
        "role_admin": "管理员", "role_merchant": "商户", "role_analyst": "分析师",
        "role_support": "客服", "role_engineer": "工程师",
        "not_allowed": "您的角色无权查看此页面。",
        "portal_only": "此部分涵盖全店（所有商户）的数据，不向商户账号显示。",
    },
)
