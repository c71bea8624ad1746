"""The report's words in English and Simplified Chinese, and numbers, money and dates formatted
for the merchant's locale (Babel's CLDR data, offline)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

LOCALES = {"en": "en_US", "zh": "zh_Hans_CN"}

WORDS: dict[str, dict[str, str]] = {
    "weekly_title": {"en": "Weekly report", "zh": "周报"},
    "daily_title": {"en": "Daily report", "zh": "日报"},
    "to_date": {"en": "to date", "zh": "截至目前"},
    "data_through": {"en": "Orders up to {day} are in these figures.", "zh": "数据包含截至 {day} 的订单。"},
    "outlook_note": {"en": "Stock, reorder suggestions and forecast are as of {day}.",
                     "zh": "库存、补货建议和预测截至 {day}。"},
    "sales": {"en": "Sales", "zh": "销售"},
    "no_history": {"en": "No comparison with last year: sales history starts on {day}.",
                   "zh": "无法与去年同期比较：销售记录始于 {day}。"},
    "this_period": {"en": "This period", "zh": "本期"},
    "previous_period": {"en": "Previous period", "zh": "上期"},
    "last_year": {"en": "Same period last year", "zh": "去年同期"},
    "change": {"en": "Change", "zh": "变化"},
    "vs_previous": {"en": "vs previous", "zh": "环比"},
    "vs_last_year": {"en": "vs last year", "zh": "同比"},
    "net_revenue": {"en": "Net revenue", "zh": "净收入"},
    "orders": {"en": "Orders", "zh": "订单数"},
    "aov": {"en": "Average order value", "zh": "客单价"},
    "units": {"en": "Units", "zh": "件数"},
    "gross_margin": {"en": "Gross margin", "zh": "毛利"},
    "margin_rate": {"en": "Margin rate", "zh": "毛利率"},
    "new_customers": {"en": "New customers", "zh": "新客户"},
    "returning_customers": {"en": "Returning customers", "zh": "回头客"},
    "revenue_by_day": {"en": "Net revenue by day", "zh": "每日净收入"},
    "revenue_by_week": {"en": "Net revenue, last 12 weeks", "zh": "近 12 周净收入"},
    "day": {"en": "Day", "zh": "日期"},
    "week": {"en": "Week", "zh": "周"},
    "best_sellers": {"en": "Best sellers", "zh": "畅销商品"},
    "slow_movers": {"en": "Slow movers (in stock, selling least)", "zh": "滞销商品（有库存、销量最低）"},
    "sku": {"en": "SKU", "zh": "SKU"},
    "product": {"en": "Product", "zh": "商品"},
    "category": {"en": "Category", "zh": "品类"},
    "growth": {"en": "Growth", "zh": "增长"},
    "on_hand": {"en": "On hand", "zh": "在库"},
    "stock_value": {"en": "Stock value", "zh": "库存价值"},
    "stock": {"en": "Stock and replenishment", "zh": "库存与补货"},
    "stock_alerts": {"en": "Stock alerts", "zh": "库存预警"},
    "no_alerts": {"en": "No product is at or below its reorder point.", "zh": "没有商品低于再订货点。"},
    "reorder": {"en": "Reorder suggestions", "zh": "补货建议"},
    "no_reorder": {"en": "Nothing needs ordering now.", "zh": "目前无需补货。"},
    "warehouse": {"en": "Warehouse", "zh": "仓库"},
    "available": {"en": "Available", "zh": "可用"},
    "reorder_point": {"en": "Reorder point", "zh": "再订货点"},
    "on_order": {"en": "On order", "zh": "在途"},
    "suggested_qty": {"en": "Suggested order", "zh": "建议订货量"},
    "suggested_value": {"en": "Order value", "zh": "订货金额"},
    "stock_out_on": {"en": "Projected stock-out", "zh": "预计断货日"},
    "forecast": {"en": "Forecast for the coming weeks", "zh": "未来几周预测"},
    "forecast_note": {"en": "Units the demand model expects (P50), with the P10-P90 range; revenue at today's prices.",
                      "zh": "需求模型预计的件数（P50）及 P10-P90 区间；收入按当前价格估算。"},
    "p50_revenue": {"en": "Expected revenue", "zh": "预计收入"},
    "range": {"en": "P10-P90", "zh": "P10-P90"},
    "segments": {"en": "Customer segment movement", "zh": "客户分群变化"},
    "segments_note": {"en": "Customers by RFM segment at the start of the week and at its end.",
                      "zh": "按 RFM 分群统计的客户：周初与周末。"},
    "segments_kept": {"en": "Segment movement is kept for the last 26 weeks (from the week of {day}).",
                      "zh": "分群变化仅保留最近 26 周（自 {day} 当周起）。"},
    "segment": {"en": "Segment", "zh": "分群"},
    "week_start": {"en": "At the week's start", "zh": "周初"},
    "week_end": {"en": "At the week's end", "zh": "周末"},
    "from_segment": {"en": "From", "zh": "原分群"},
    "to_segment": {"en": "To", "zh": "新分群"},
    "customers": {"en": "Customers", "zh": "客户数"},
    "campaigns": {"en": "Campaigns", "zh": "营销活动"},
    "no_campaigns": {"en": "No campaign ran in this period.", "zh": "本期没有营销活动。"},
    "campaign": {"en": "Campaign", "zh": "活动"},
    "contacted": {"en": "Contacted", "zh": "触达"},
    "uplift": {"en": "Uplift (95% CI)", "zh": "提升（95% 置信区间）"},
    "incremental_revenue": {"en": "Incremental revenue", "zh": "增量收入"},
    "spend": {"en": "Spend", "zh": "花费"},
    "return_on_spend": {"en": "Return on spend", "zh": "投入回报"},
    "service": {"en": "Returns, delivery and support", "zh": "退货、配送与客服"},
    "returns": {"en": "Returns requested", "zh": "退货申请"},
    "reason": {"en": "Reason", "zh": "原因"},
    "requests": {"en": "Requests", "zh": "申请数"},
    "refunds_paid": {"en": "Refunds paid", "zh": "已退款"},
    "delivery": {"en": "Delivery", "zh": "配送"},
    "carrier": {"en": "Carrier", "zh": "承运商"},
    "shipments": {"en": "Shipments", "zh": "发货数"},
    "on_time_rate": {"en": "On time", "zh": "准时率"},
    "avg_delivery_days": {"en": "Days to deliver", "zh": "平均送达天数"},
    "exception_rate": {"en": "With exceptions", "zh": "异常率"},
    "support": {"en": "Support", "zh": "客服"},
    "tickets": {"en": "Tickets", "zh": "工单"},
    "first_response_breach_rate": {"en": "First response late", "zh": "首次响应超时率"},
    "resolution_breach_rate": {"en": "Resolution late", "zh": "解决超时率"},
    "avg_first_response_hours": {"en": "Hours to first response", "zh": "首次响应小时数"},
    "csat_rate": {"en": "Satisfied (4-5 of 5)", "zh": "满意度（4-5 分）"},
    "none": {"en": "None in this period.", "zh": "本期没有。"},
    "unavailable": {"en": "Not in this warehouse yet: `ecom pipeline run` builds it.",
                    "zh": "仓库中尚无此数据：运行 `ecom pipeline run` 生成。"},
    "mail_intro": {"en": "Your {title} for {period} is attached (PDF). Net revenue {revenue}, {orders} orders.",
                   "zh": "附件是您 {period} 的{title}（PDF）。净收入 {revenue}，订单 {orders} 笔。"},
    "footer": {"en": "Figures as defined in the ecom metric definitions. Produced for {merchant} only.",
               "zh": "各项指标按 ecom 指标定义计算。本报告仅供 {merchant} 使用。"},
}

# The segment names the marts use (METRICS: RFM segments), as the dashboards translate them.
SEGMENTS: dict[str, dict[str, str]] = {
    "Champions": {"zh": "冠军客户"}, "Loyal": {"zh": "忠诚客户"}, "Potential loyalist": {"zh": "潜在忠诚客户"},
    "New": {"zh": "新客户"}, "Promising": {"zh": "有潜力客户"}, "Need attention": {"zh": "需要关注"},
    "About to sleep": {"zh": "即将沉睡"}, "At risk": {"zh": "有流失风险"}, "Cannot lose them": {"zh": "不能失去"},
    "Hibernating": {"zh": "休眠客户"}, "new": {"en": "(no orders before)", "zh": "（此前无订单）"},
}


@dataclass(frozen=True)
class Speaker:
    """Words and formats in one language, for one currency."""

    lang: str
    currency: str

    @property
    def locale(self) -> str:
        return LOCALES.get(self.lang, "en_US")

    def __call__(self, key: str, **values: Any) -> str:
        text = WORDS[key].get(self.lang) or WORDS[key]["en"]
        return text.format(**values) if values else text

    def segment(self, name: str | None) -> str:
        name = name or "new"
        return SEGMENTS.get(name, {}).get(self.lang) or name

    def money(self, value: float | None) -> str:
        return "–" if value is None else format_currency(value, self.currency, locale=self.locale)

    def number(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        return format_decimal(round(value, digits), format="#,##0" + ("." + "0" * digits if digits else ""),
                              locale=self.locale)

    def percent(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return "–"
        return format_percent(value, format="#,##0." + "0" * digits + "%", locale=self.locale)

    def change(self, now: float | None, before: float | None) -> str:
        """Relative change, signed; '–' when there is nothing to compare with."""
        if now is None or before is None or before == 0:
            return "–"
        delta = now / before - 1
        return ("+" if delta > 0 else "") + self.percent(delta)

    def points(self, now: float | None, before: float | None) -> str:
        """The difference of two rates in percentage points ('+2.5 pt')."""
        if now is None or before is None:
            return "–"
        delta = (now - before) * 100
        return ("+" if delta > 0 else "") + self.number(delta, 1) + (" 个百分点" if self.lang == "zh" else " pt")

    def day(self, value: date | None, form: str = "medium") -> str:
        return "–" if value is None else format_date(value, format=form, locale=self.locale)

    def period(self, start: date, end: date) -> str:
        return self.day(start) if start == end else f"{self.day(start)} – {self.day(end)}"
