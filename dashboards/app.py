"""The dashboards' entry point (`ecom dashboard` runs it with `streamlit run`): sign-in, the
language switch, the filters, and the pages this user's role may see."""

from __future__ import annotations

import streamlit as st

from dashboards import auth, filters, i18n
from dashboards.i18n import COMMON as T
from dashboards.pages import PAGES
from dashboards.settings import DashboardSettings


def _language() -> None:
    st.sidebar.selectbox(T("language"), list(i18n.LANGUAGES), format_func=i18n.LANGUAGES.get, key="lang")


def main() -> None:
    st.set_page_config(page_title="ecom", page_icon=":material/storefront:", layout="wide")
    _language()
    who = auth.check_session(DashboardSettings())
    if who is None:
        st.navigation([st.Page(auth.sign_in_form, title=T("sign_in"), url_path="sign_in")],
                      position="hidden").run()
        return
    pages = [st.Page(f"views/{p.slug}.py", title=T(f"page_{p.slug}"), icon=p.icon, url_path=p.slug)
             for p in PAGES if who.may(p.permission)]
    navigation = st.navigation(pages)
    merchant = f" · {filters.merchant_code(who.merchant_id)}" if who.merchant_id is not None else ""
    st.sidebar.markdown(T("signed_in_as", user=st.session_state.get("username", who.name),
                          role=T(f"role_{who.role}"), merchant=merchant))
    if st.sidebar.button(T("sign_out"), key="sign_out"):
        auth.sign_out()
        st.rerun()
    filters.sidebar()
    navigation.run()


main()
