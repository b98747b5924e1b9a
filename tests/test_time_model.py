"""The time model (bot.time_model.read_time): every way staff write a time, as a table of expressions."""

from __future__ import annotations

from datetime import date

import pytest

import bot.time_model as time_model
from bot.thai import normalize
from bot.time_model import KINDS, TimeRef, read_time
from bot.years import read_years

TODAY = date(2026, 11, 21)  # fiscal year 2570; calendar year 2569 B.E.
LAST_DAY = date(2026, 9, 30)  # the last day of fiscal year 2569
NEW_YEAR = date(2027, 10, 1)  # the first day of fiscal year 2571


def Y(fy: int) -> tuple[str, int]:
    return ("fiscal_year", fy)


def C(year: int) -> tuple[str, int]:
    return ("calendar_year", year)


def R(fy: int) -> tuple[str, int]:
    return ("relative_fiscal", fy)


def RC(year: int) -> tuple[str, int]:
    return ("relative_calendar", year)


def D(fy: int) -> tuple[str, int]:
    return ("date", fy)


def M(fy: int) -> tuple[str, int]:
    return ("month", fy)


def S(fy: int) -> tuple[str, int]:
    return ("span", fy)


NO: list[tuple[str, int]] = []

# (expression, the (kind, fiscal year) of each reference in text order), read on TODAY.
CASES: list[tuple[str, list[tuple[str, int]]]] = [
    # --- B.E. years, four digits
    ("2571", [Y(2571)]),
    ("ปีงบประมาณ 2570", [Y(2570)]),
    ("ปีงบประมาณ พ.ศ. 2570", [Y(2570)]),
    ("พ.ศ. 2570", [Y(2570)]),
    ("พ.ศ.2570", [Y(2570)]),
    ("พศ 2570", [Y(2570)]),
    ("ปี 2569", [Y(2569)]),
    ("งบปี 2568", [Y(2568)]),
    ("fy2570", [Y(2570)]),
    ("FY 2571", [Y(2571)]),
    ("ปีงบฯ 2570", [Y(2570)]),
    ("ปีงบ ๒๕๗๐", [Y(2570)]),
    ("๒๕๗๑", [Y(2571)]),
    ("งปม. 2570", [Y(2570)]),
    ("ปีงบประมาณ 2570 ยื่นได้ถึงเมื่อไร", [Y(2570)]),
    ("ข้อมูลปีงบ 2566 หน่อยค่ะ", [Y(2566)]),
    # --- short B.E. years after a cue
    ("ปี 71", [Y(2571)]),
    ("ปี71", [Y(2571)]),
    ("ปีงบ71", [Y(2571)]),
    ("ปีงบ 71", [Y(2571)]),
    ("ปีงบประมาณ 70", [Y(2570)]),
    ("งปม.69", [Y(2569)]),
    ("งปม 69", [Y(2569)]),
    ("งบปี 70", [Y(2570)]),
    ("งบ70", [Y(2570)]),
    ("งบประมาณ 70", [Y(2570)]),
    ("งบประมาณปี 70", [Y(2570)]),
    ("พ.ศ. 70", [Y(2570)]),
    ("พ.ศ.70", [Y(2570)]),
    ("ปีงบฯ 70", [Y(2570)]),
    ("FY70", [Y(2570)]),
    ("fy 70", [Y(2570)]),
    ("fiscal year 70", [Y(2570)]),
    ("budget year 70", [Y(2570)]),
    ("ปี ๗๑", [Y(2571)]),
    ("ปีงบ ๖๙", [Y(2569)]),
    # --- apostrophes
    ("FY'71", [Y(2571)]),
    ("fy’71", [Y(2571)]),
    ("'71", [Y(2571)]),
    ("’72 เปิดยัง", [Y(2572)]),
    ("ปี '70", [Y(2570)]),
    ("ปีงบ'72 เมื่อไหร่จะเปิด", [Y(2572)]),
    ("fy'23", [Y(2566)]),
    # --- C.E. years
    ("2027", [C(2570)]),
    ("ค.ศ. 2027", [C(2570)]),
    ("ค.ศ.2027", [C(2570)]),
    ("ค.ศ. ๒๐๒๗", [C(2570)]),
    ("in 2027", [C(2570)]),
    ("ปี 2027", [C(2570)]),
    ("what happened in 2023?", [C(2566)]),
    ("ค.ศ. 27", [C(2570)]),
    ("FY2027", [Y(2570)]),
    ("fy 2027", [Y(2570)]),
    ("fiscal year 2027", [Y(2570)]),
    ("fiscal 2028", [Y(2571)]),
    ("budget year 2030", [Y(2573)]),
    ("ปีงบ 2027", [Y(2570)]),
    ("ปีงบประมาณ 2022", [Y(2565)]),
    ("งบปี 2029", [Y(2572)]),
    ("FY27", [Y(2570)]),
    ("fy 27", [Y(2570)]),
    ("fiscal year 27", [Y(2570)]),
    ("ปีปฏิทิน 2570", [C(2570)]),
    # --- financial year / budget year and the romanised ngob (งบ) are fiscal cues like fiscal year
    ("financial year 2028", [Y(2571)]),
    ("Financial Year 2571", [Y(2571)]),
    ("financial year 70", [Y(2570)]),
    ("financial year 27", [Y(2570)]),
    ("financial years 2027", [Y(2570)]),
    ("budget years 2571", [Y(2571)]),
    ("financial year 2571 ยื่นได้ไหม", [Y(2571)]),
    ("ขอข้อมูล financial year 2028 หน่อยค่ะ", [Y(2571)]),
    ("financial year twenty twenty-eight", [Y(2571)]),
    ("ngob 72", [Y(2572)]),
    ("ngob 2572", [Y(2572)]),
    ("ngob72", [Y(2572)]),
    ("Ngob 70 ยื่นได้ไหม", [Y(2570)]),
    ("ขอ ngob 2571 ได้ไหมคะ", [Y(2571)]),
    ("ngob 2028", [Y(2571)]),
    ("ngob 50 ล้าน", NO),
    ("financial year 50 million", NO),
    # --- a fiscal year as two consecutive years: the one that ends in the second
    ("2027/28", [Y(2571)]),
    ("2027/2028", [Y(2571)]),
    ("2027-28", [Y(2571)]),
    ("2027–28", [Y(2571)]),
    ("2027 / 28", [Y(2571)]),
    ("FY 2027/28", [Y(2571)]),
    ("fy2027/28", [Y(2571)]),
    ("FY 2027-28", [Y(2571)]),
    ("the 2027/28 financial year", [Y(2571)]),
    ("financial year 2027/28", [Y(2571)]),
    ("budget year 2027-28", [Y(2571)]),
    ("what is the budget for 2026/27?", [Y(2570)]),
    ("2022/2023", [Y(2566)]),
    ("ปีงบ 2569/70", [Y(2570)]),
    ("ปีงบ 2569/70 ยื่นได้ถึงเมื่อไร", [Y(2570)]),
    ("2569/70", [Y(2570)]),
    ("2569/2570", [Y(2570)]),
    ("ปีงบประมาณ 2569/2570", [Y(2570)]),
    ("ปีงบประมาณ พ.ศ. 2569/70", [Y(2570)]),
    ("ปีงบ 2569-70", [Y(2570)]),
    ("ปีงบ ๒๕๖๙/๗๐", [Y(2570)]),
    ("งบปี 2027/28 เปิดรับเมื่อไร", [Y(2571)]),
    ("ngob 2569/70", [Y(2570)]),
    ("2027/28-2029/30", [Y(2571), Y(2573)]),
    ("2027/28 และ 2570", [Y(2571), Y(2570)]),
    ("2566 และ 2570", [Y(2566), Y(2570)]),  # the ละ of และ (and) is not ละ (per)
    ("ต.ค. ปีงบ 2569/70", [M(2570)]),  # October of FY 2570 is October 2569
    # not consecutive, or not a pair: today's reading
    ("2027/29", [C(2570)]),
    ("2563/2565", [Y(2563), Y(2565)]),
    ("ปีงบ 2566/68", [Y(2566)]),
    ("ปี 2566 - 2567", [Y(2566), Y(2567)]),  # a dash between two 4-digit years is a range
    ("2569/70 ล้านบาท", [Y(2569)]),
    # --- Thai number words
    ("ปีงบเจ็ดสิบเอ็ด", [Y(2571)]),
    ("ปีงบประมาณสองพันห้าร้อยเจ็ดสิบ", [Y(2570)]),
    ("ปีหกสิบเก้า", [Y(2569)]),
    ("ปีงบหกสิบหก ยังยื่นได้อยู่ไหม", [Y(2566)]),
    ("ปีเจ็ดสิบ", [Y(2570)]),
    ("พ.ศ. สองพันห้าร้อยหกสิบหก", [Y(2566)]),
    ("ปีงบประมาณ พ.ศ. สองพันห้าร้อยเจ็ดสิบเอ็ด", [Y(2571)]),
    ("ปีงบเจ็ดสิบสองเปิดตอนไหน", [Y(2572)]),
    ("ปีงบประมาณเจ็ดสิบสอง", [Y(2572)]),
    ("ค.ศ. สองพันยี่สิบเจ็ด", [C(2570)]),
    ("ปีงบสองพันยี่สิบเจ็ด", [Y(2570)]),
    ("ปีสอง", NO),  # a second-year student, not a year
    ("ปีหนึ่ง", NO),
    ("สามารถยื่นได้ไหม", NO),
    ("งบหกสิบล้าน", NO),
    ("หกสิบโครงการ", NO),
    ("ปีละห้าสิบครั้ง", NO),
    # --- ranges
    ("2563-2565", [Y(2563), Y(2565)]),
    ("ปี 63-65", [Y(2563), Y(2565)]),
    ("ปีงบ 2566 - 2568", [Y(2566), Y(2568)]),
    ("ปีงบประมาณ 2566–2568", [Y(2566), Y(2568)]),
    ("fy2022-2023", [Y(2565), Y(2566)]),
    ("ปี 66/67", [Y(2566), Y(2567)]),
    ("2022-2023", [C(2565), C(2566)]),
    ("ปี 66 ถึง 68", [Y(2566), Y(2568)]),
    # --- bare two digits (today's rules)
    ("66 ยังยื่นได้ไหม", [Y(2566)]),
    ("ขอรับงบ 67 ได้ไหม", [Y(2567)]),
    ("เปิดรับ 68?", [Y(2568)]),
    ("66", NO),
    ("66 ยังได้ไหม", NO),
    ("ขอ 60 โครงการ", NO),
    # --- relative fiscal years: this one
    ("ปีงบนี้", [R(2570)]),
    ("ปีงบประมาณนี้", [R(2570)]),
    ("ปีงบปัจจุบัน", [R(2570)]),
    ("ปีงบประมาณปัจจุบัน", [R(2570)]),
    ("ปีงบฯ นี้", [R(2570)]),
    ("FY ปัจจุบัน", [R(2570)]),
    ("fy นี้", [R(2570)]),
    ("current FY", [R(2570)]),
    ("this FY", [R(2570)]),
    ("this fiscal year", [R(2570)]),
    ("the current fiscal year", [R(2570)]),
    ("the current financial year", [R(2570)]),
    ("this financial year", [R(2570)]),
    ("current budget year", [R(2570)]),
    ("the current financial year ยื่นได้ถึงเมื่อไร", [R(2570)]),
    ("ปีนี้", [R(2570)]),
    ("ปีปัจจุบัน", [R(2570)]),
    ("this year", [R(2570)]),
    ("current year", [R(2570)]),
    ("ปีงบปัจจุบันคือปีไหน", [R(2570)]),
    # --- the next one
    ("ปีงบหน้า", [R(2571)]),
    ("ปีงบฯ หน้า", [R(2571)]),
    ("ปีงบประมาณหน้า", [R(2571)]),
    ("ปีงบถัดไป", [R(2571)]),
    ("ปีงบประมาณถัดไป", [R(2571)]),
    ("ปีงบต่อไป", [R(2571)]),
    ("fy หน้า", [R(2571)]),
    ("next FY", [R(2571)]),
    ("next fiscal year", [R(2571)]),
    ("next budget year", [R(2571)]),
    ("upcoming fiscal year", [R(2571)]),
    ("next financial year", [R(2571)]),
    ("Next Financial Year เปิดรับเมื่อไร", [R(2571)]),
    ("the coming financial year", [R(2571)]),
    ("ปีหน้า", [R(2571)]),
    ("ปีถัดไป", [R(2571)]),
    ("next year", [R(2571)]),
    ("รอบหน้า", [R(2571)]),
    ("ปีหน้าอีกครั้ง", [R(2571)]),
    # --- the one after next, and further
    ("the one after next", [R(2572)]),
    ("the fiscal year after next", [R(2572)]),
    ("the year after next", [R(2572)]),
    ("FY after next", [R(2572)]),
    ("ปีงบถัดไปอีก", [R(2572)]),
    ("ปีถัดไปอีก", [R(2572)]),
    ("ปีหน้าโน้น", [R(2572)]),
    ("ปีงบหน้าโน้น", [R(2572)]),
    ("อีก 3 ปีงบ", [R(2573)]),
    ("อีกสามปีงบ", [R(2573)]),
    ("อีก 2 ปีงบประมาณ", [R(2572)]),
    ("อีกสองปีงบ", [R(2572)]),
    ("อีกหนึ่งปีงบ", [R(2571)]),
    ("in 3 fiscal years", [R(2573)]),
    ("2 fiscal years from now", [R(2572)]),
    # --- the last one, and before
    ("ปีงบที่แล้ว", [R(2569)]),
    ("ปีงบที่ผ่านมา", [R(2569)]),
    ("ปีงบก่อน", [R(2569)]),
    ("ปีงบก่อนหน้า", [R(2569)]),
    ("ปีงบประมาณก่อนหน้า", [R(2569)]),
    ("ปีงบฯ ที่แล้ว", [R(2569)]),
    ("last FY", [R(2569)]),
    ("last fiscal year", [R(2569)]),
    ("previous fiscal year", [R(2569)]),
    ("prior fiscal year", [R(2569)]),
    ("last financial year", [R(2569)]),
    ("previous financial year", [R(2569)]),
    ("the financial year before last", [R(2568)]),
    ("two financial years ago", [R(2568)]),
    ("3 budget years ago", [R(2567)]),
    ("ปีที่แล้ว", [R(2569)]),
    ("ปีก่อน", [R(2569)]),
    ("ปีกลาย", [R(2569)]),
    ("last year", [R(2569)]),
    ("a year ago", [R(2569)]),
    ("สองปีงบก่อน", [R(2568)]),
    ("2 ปีงบที่แล้ว", [R(2568)]),
    ("3 ปีงบที่แล้ว", [R(2567)]),
    ("สามปีงบก่อน", [R(2567)]),
    ("three fiscal years ago", [R(2567)]),
    ("two years ago", [R(2568)]),
    ("2 ปีก่อน", [R(2568)]),
    ("the year before last", [R(2568)]),
    ("2 ปีงบก่อนหน้านี้", [R(2568)]),
    ("ปีงบก่อนหน้านี้", [R(2569)]),
    ("สองปีงบที่แล้ว", [R(2568)]),
    ("three FYs ago", [R(2567)]),
    ("ส่งเรียบร้อยปีที่แล้ว", [R(2569)]),  # the ร้อย of เรียบร้อย is no count
    ("ย้อนหลังไปของสามปีงบก่อน", [R(2567)]),  # a count run into the word before it
    ("เมื่อยี่สิบปีก่อน", NO),  # twenty years back: an age, not a fiscal year
    # --- counted further on, other ways
    ("ปีงบถัดจากปีหน้า", [R(2572)]),
    ("ปีงบถัดจากปีหน้าอีกที", [R(2572)]),
    ("ปีถัดจากปีนี้", [R(2571)]),
    ("two fiscal years from now", [R(2572)]),
    ("in two fiscal years", [R(2572)]),
    ("2 FYs from now", [R(2572)]),
    ("in 2 FYs", [R(2572)]),
    ("the FY after next", [R(2572)]),
    ("the financial year after next", [R(2572)]),
    ("in 2 financial years", [R(2572)]),
    ("three financial years from now", [R(2573)]),
    # --- FY written in English, with Thai or English relative words
    ("this fy", [R(2570)]),
    ("current fy", [R(2570)]),
    ("FY นี้", [R(2570)]),
    ("FY หน้า", [R(2571)]),
    ("FY ที่แล้ว", [R(2569)]),
    ("next fy", [R(2571)]),
    ("last fy", [R(2569)]),
    # --- relative calendar years (only when the text says calendar)
    ("ปีปฏิทินนี้", [RC(2569)]),
    ("this calendar year", [RC(2569)]),
    ("ปีปฏิทินหน้า", [RC(2570)]),
    ("next calendar year", [RC(2570)]),
    ("last calendar year", [RC(2568)]),
    # --- parts of a calendar year: early Jan-Mar, mid Apr-Sep, late / end Oct-Dec (the FY of October is the next)
    ("ต้นปีหน้า", [S(2570)]),
    ("early next year", [S(2570)]),
    ("the beginning of next year", [S(2570)]),
    ("ต้นๆ ปีหน้า", [S(2570)]),
    ("ต้นปีหน้ายื่นได้ไหม", [S(2570)]),
    ("กลางปีหน้า", [S(2570)]),
    ("mid next year", [S(2570)]),
    ("ปลายปีหน้า", [S(2571)]),
    ("late next year", [S(2571)]),
    ("end of next year", [S(2571)]),
    ("สิ้นปีหน้า", [S(2571)]),
    ("ต้นปีนี้", [S(2569)]),
    ("ปลายปีนี้", [S(2570)]),
    ("ภายในสิ้นปีนี้", [S(2570)]),
    ("ปลายปีที่แล้ว", [S(2569)]),
    ("ต้นปี 2570", [S(2570)]),
    ("ต้นปี พ.ศ. 2570", [S(2570)]),
    ("ปลายปี 70", [S(2571)]),
    ("กลางปี 2027", [S(2570)]),
    ("mid-2027", [S(2570)]),
    ("the end of 2027", [S(2571)]),
    ("ตรวจสอบเบื้องต้นปีหน้า", [R(2571)]),  # เบื้องต้น: preliminary
    ("รวมทั้งสิ้นปีนี้ 50 โครงการ", [R(2570)]),  # ทั้งสิ้น: in total
    ("ปลายปีงบหน้า", [R(2571)]),  # parts of a fiscal year are not read
    ("it is too late this year", [R(2570)]),
    ("chocolate 2027", [C(2570)]),
    ("ปลายปี 70 ล้าน", NO),
    # --- relative months
    ("เดือนหน้า", [M(2570)]),
    ("เดือนถัดไป", [M(2570)]),
    ("next month", [M(2570)]),
    ("เดือนนี้", [M(2570)]),
    ("this month", [M(2570)]),
    ("เดือนที่แล้ว", [M(2570)]),
    ("last month", [M(2570)]),
    ("อีก 2 เดือน", [M(2570)]),
    ("อีกสองเดือน", [M(2570)]),
    ("in two months", [M(2570)]),
    ("2 months from now", [M(2570)]),
    ("อีก 11 เดือน", [M(2571)]),
    ("สองเดือนที่แล้ว", [M(2569)]),
    ("3 months ago", [M(2569)]),
    ("งบผูกพันเดือนหน้า", [M(2570)]),  # the พัน of ผูกพัน is no count
    ("3 เดือนที่ผ่านมา", NO),  # a period
    ("1 เดือนก่อนปิดรับ", NO),
    ("อีก 18 เดือน", NO),
    ("ทุกเดือน", NO),
    ("monthly report", NO),
    ("the following month", NO),
    # --- a month (date, span) without a year beside a year: one reference in that year
    ("พ.ย. ปีหน้า", [M(2571)]),
    ("ต.ค. ปีนี้", [M(2570)]),
    ("มีนาคมปีหน้า", [M(2570)]),
    ("ธ.ค. ปีที่แล้ว", [M(2569)]),
    ("ต.ค. ของปีหน้า", [M(2571)]),
    ("ปีหน้าเดือนมีนา", [M(2570)]),
    ("October next year", [M(2571)]),
    ("in March next year", [M(2570)]),
    ("ต.ค. ปีงบ 70", [M(2570)]),  # October of FY 2570 is October 2569
    ("ก.พ. ปีงบ 70", [M(2570)]),
    ("ต.ค. ปีงบหน้า", [M(2571)]),
    ("ก.พ. ปีงบหน้า", [M(2571)]),
    ("ปีงบ 70 เดือน ต.ค.", [M(2570)]),
    ("October FY2027", [M(2570)]),
    ("October financial year 2027", [M(2570)]),
    ("ต.ค. ngob 70", [M(2570)]),
    ("5 ต.ค. ปีหน้า", [D(2571)]),
    ("ต.ค. – ธ.ค. ปีหน้า", [S(2571)]),
    ("ต.ค. – มี.ค. ปีงบ 70", [S(2570)]),
    ("ปี 63-65 ต.ค.", [Y(2563), Y(2565), M(2571)]),  # the end of a range stays a year
    # --- years in English number words
    ("twenty twenty-nine", [C(2572)]),
    ("twenty twenty eight", [C(2571)]),
    ("in twenty twenty-seven", [C(2570)]),
    ("twenty thirty", [C(2573)]),
    ("fy twenty twenty-eight", [Y(2571)]),
    ("fiscal year twenty twenty-seven", [Y(2570)]),
    ("twenty-twenty vision", NO),
    ("twenty people", NO),
    ("twenty twenty-five baht", NO),
    # --- a date beside a fiscal year: each keeps its kind, the caller prefers the fiscal year
    ("วันนี้ 21 พ.ย. 69 ปีงบ 70 เปิดหรือยัง", [D(2570), Y(2570)]),
    ("วันนี้ 21 พ.ย. แล้ว ปีงบหน้าเปิดหรือยัง", [D(2570), R(2571)]),
    ("today is 21/11/2026, is FY2028 open?", [D(2570), Y(2571)]),
    ("เดือนนี้ปีงบ 71 เปิดหรือยัง", [M(2570), Y(2571)]),
    # --- relative phrases that are not years
    ("ทุกปีก่อนสิ้นเดือน", NO),
    ("หลายปีก่อน", NO),
    ("60 ปีที่แล้ว", NO),
    ("ปีก่อนๆ", NO),
    ("อีก 2 ปี", NO),
    ("ย้อนหลัง 3 ปี", NO),
    ("ปีละ 2 ครั้ง", NO),
    ("ปีที่ 2", NO),
    ("5 years of experience", NO),
    # --- dates with a year
    ("5/10/2569", [D(2570)]),
    ("5/10/2026", [D(2570)]),
    ("5-10-2569", [D(2570)]),
    ("05/10/2569", [D(2570)]),
    ("5/10/69", [D(2570)]),
    ("30/9/2569", [D(2569)]),
    ("1/10/2569", [D(2570)]),
    ("๕/๑๐/๒๕๖๙", [D(2570)]),
    ("2026-10-05", [D(2570)]),
    ("2026-09-30", [D(2569)]),
    ("5 ต.ค. 69", [D(2570)]),
    ("5ต.ค.69", [D(2570)]),
    ("5 ต.ค. 2569", [D(2570)]),
    ("5 ตุลาคม 2569", [D(2570)]),
    ("5 ตุลาคม พ.ศ. 2569", [D(2570)]),
    ("วันที่ 5 ตุลาคม 2569", [D(2570)]),
    ("วันที่ 5 เดือนตุลาคม พ.ศ. 2569", [D(2570)]),
    ("1 ก.พ. 70", [D(2570)]),
    ("30 ก.ย. 70", [D(2570)]),
    ("1 ต.ค. 70", [D(2571)]),
    ("1 ตุลา 2570", [D(2571)]),
    ("15 มกราคม 2570", [D(2570)]),
    ("15 สิงหา 2570", [D(2570)]),
    ("11 ธ.ค. 2562", [D(2563)]),
    ("๑๑ ธ.ค. ๖๒", [D(2563)]),
    ("มติ ครม. 11 ธ.ค. 2562 เรื่องอะไร", [D(2563)]),
    ("วันที่สิบเอ็ดธันวาคม สองพันห้าร้อยหกสิบสอง", [D(2563)]),
    ("Oct 5, 2026", [D(2570)]),
    ("October 5, 2026", [D(2570)]),
    ("5 October 2026", [D(2570)]),
    ("5 Oct 2026", [D(2570)]),
    ("oct. 5th, 2026", [D(2570)]),
    ("5th of October 2026", [D(2570)]),
    ("Sep 30, 2027", [D(2570)]),
    ("1 Jan 2027", [D(2570)]),
    ("May 22, 2027", [D(2570)]),
    ("ปีงบประมาณ 2570 เริ่มวันที่ 1 ตุลาคม 2569 ใช่ไหมคะ", [Y(2570), D(2570)]),
    # --- dates without a year: the next such day on or after today
    ("5 ต.ค.", [D(2571)]),
    ("30 ก.ย.", [D(2570)]),
    ("21 พ.ย.", [D(2570)]),  # today itself
    ("20 พ.ย.", [D(2571)]),
    ("1 ธ.ค.", [D(2570)]),
    ("Oct 5", [D(2571)]),
    ("5 Dec", [D(2570)]),
    ("ห้าตุลาคม", [D(2571)]),
    ("22 พฤษภาคม", [D(2570)]),
    # --- months with a year
    ("ก.พ. 70", [M(2570)]),
    ("ก.พ.70", [M(2570)]),
    ("กุมภาพันธ์ 2570", [M(2570)]),
    ("กุมภา 70", [M(2570)]),
    ("ต.ค. 69", [M(2570)]),
    ("ต.ค. 70", [M(2571)]),
    ("ตุลาคม 2570", [M(2571)]),
    ("เดือนตุลาคม 2569", [M(2570)]),
    ("ก.ย. 70", [M(2570)]),
    ("มี.ค. 70", [M(2570)]),
    ("เม.ย. 70", [M(2570)]),
    ("พ.ค. 70", [M(2570)]),
    ("มิ.ย. 70", [M(2570)]),
    ("ก.ค. 2570", [M(2570)]),
    ("ส.ค. 70", [M(2570)]),
    ("พ.ย. 69", [M(2570)]),
    ("ม.ค. 71", [M(2571)]),
    ("ธ.ค. 2564", [M(2565)]),
    ("ธันวา 64", [M(2565)]),
    ("กรกฏาคม 2570", [M(2570)]),
    ("ตุลาคม ปี 2569", [M(2570)]),
    ("March 2027", [M(2570)]),
    ("mar 2027", [M(2570)]),
    ("Oct 2027", [M(2571)]),
    ("october 2026", [M(2570)]),
    ("Sept 2027", [M(2570)]),
    ("May 2027", [M(2570)]),
    ("31 เม.ย. 70", [M(2570)]),  # no such day: still the month
    ("ยื่นช่วง ก.พ. 70 ได้ไหมคะ", [M(2570)]),
    # --- months without a year: the next such month from this month on
    ("ก.พ.", [M(2570)]),
    ("เดือนกุมภา", [M(2570)]),
    ("ต.ค.", [M(2571)]),
    ("เดือน ต.ค.", [M(2571)]),
    ("ภายใน ก.ย.", [M(2570)]),
    ("ภายในก.ย.", [M(2570)]),
    ("พ.ย.", [M(2570)]),  # this month
    ("ธันวาคม", [M(2570)]),
    ("มีนา", [M(2570)]),
    ("เดือนกันยายน", [M(2570)]),
    ("in March", [M(2570)]),
    ("by May", [M(2570)]),
    ("ยื่น ธ.ค. นี้ทันไหมคะ", [M(2570)]),
    ("ตุลาปีหน้า", [M(2571)]),  # October of next year: one reference (it gave a month and a year)
    # --- spans
    ("ต.ค. 70 – ก.ย. 71", [S(2571)]),
    ("ช่วง ต.ค. 70 ถึง ก.ย. 71", [S(2571)]),
    ("ต.ค.70-ก.ย.71", [S(2571)]),
    ("Oct 2026 - Mar 2027", [S(2570)]),
    ("oct 2027 to sep 2028", [S(2571)]),
    ("ต.ค. 69 - ก.พ. 71", [S(2570)]),
    ("1/10/2569 - 30/9/2570", [S(2570)]),
    ("1 ต.ค. 2569 ถึง 30 ก.ย. 2570", [S(2570)]),
    ("ตั้งแต่ 1 ต.ค. 69 จนถึง 31 มี.ค. 70", [S(2570)]),
    ("ต.ค. – ธ.ค. 70", [S(2571)]),
    ("มค–กย 2570", [S(2570)]),
    ("jan–jun 2028", [S(2571)]),
    ("between Oct 2026 and Mar 2027", [S(2570)]),
    ("1-15 ต.ค. 69", [S(2570)]),
    ("ก.ค. 70 - ธ.ค. 70", [S(2570)]),
    ("ต.ค. - มี.ค.", [S(2570)]),
    ("มกราคมถึงมีนาคม", [S(2570)]),
    ("oct to sep", [S(2570)]),
    ("fy68 คือ ต.ค. 67 – ก.ย. 68 ใช่มั้ย", [Y(2568), S(2568)]),
    # --- counts, amounts, items, times and phone numbers are not years
    ("120 เครื่อง", NO),
    ("500 คน", NO),
    ("60 โครงการ", NO),
    ("29 หน่วยงาน", NO),
    ("29 หน่วยงาน 50 โครงการ", NO),
    ("งบ 50 ล้าน", NO),
    ("งบ 60 ล้านบาท", NO),
    ("งบ 2566 ล้านบาท", NO),
    ("70%", NO),
    ("ขอ 70 %", NO),
    ("70 เปอร์เซ็นต์", NO),
    ("ร้อยละ 70", NO),
    ("2,409.3962", NO),
    ("งบ 2,409.3962 ล้านบาท", NO),
    ("ขอ 66,000 บาท", NO),
    ("ราคา 2,500 บาท", NO),
    ("งบ 1,990", NO),
    ("1000 บาท", NO),
    ("3000", NO),
    ("2000 คน", NO),
    ("2500 เครื่อง", NO),
    ("จำนวน 2566 รายการ", NO),
    ("มาตรา 4", NO),
    ("ข้อ 3", NO),
    ("ข้อ 66 ยื่นอย่างไร", NO),
    ("แนวทางที่ 2", NO),
    ("คณะที่ 1.3", NO),
    ("1.3", NO),
    ("สัดส่วน 0.2566", NO),
    ("2566.25", NO),
    ("โทร 02-612-6000", NO),
    ("สพร. 0-2612-6000", NO),
    ("โทร. 081-234-5678 ยื่นได้", NO),
    ("+66 2 612 6000", NO),
    ("10.30 น.", NO),
    ("เวลา 14:30 ยื่น", NO),
    ("3 ปี", NO),
    ("ยื่นได้ 70 ปี", NO),
    ("อายุ 60 ปี", NO),
    ("ภายใน 15 วัน", NO),
    ("12 เดือน", NO),
    ("ปี 2", NO),
    ("ปี 12", NO),
    ("ค.ศ. 2566", NO),
    ("พ.ศ. 2023", NO),
    ("'23", NO),
    ("5/10", NO),
    ("ISO 27001", NO),
    ("covid-19", NO),
    ("", NO),
    # --- words that only look like months
    ("สำนักงาน ก.พ.", NO),
    ("ระเบียบ ก.พ.", NO),
    ("สอบ ก.พ. รอบใหม่", NO),
    ("ก.พ.ร.", NO),
    ("ตุลาการ", NO),
    ("สมควร", NO),
    ("พยายาม", NO),
    ("มีคำถาม", NO),
    ("may I apply", NO),
    ("we march on", NO),
]

# (expression, how), on TODAY.
HOWS: list[tuple[str, str]] = [
    ("2566", "be"),
    ("ปีงบ 66", "be_short"),
    ("พ.ศ. 66", "be_short"),
    ("2023", "ce"),
    ("ค.ศ. 2023", "ce"),
    ("ค.ศ. 23", "ce"),
    ("fy2023", "fy_ce"),
    ("fy23", "fy_ce"),
    ("ปีงบ 2023", "fy_ce"),
    ("FY'71", "apostrophe"),
    ("'71", "apostrophe"),
    ("fy'23", "apostrophe"),
    ("ปีงบเจ็ดสิบเอ็ด", "thai_words"),
    ("ปีงบประมาณสองพันห้าร้อยเจ็ดสิบ", "thai_words"),
    ("ปีหน้า", "relative"),
    ("three fiscal years ago", "relative"),
    ("ปีปฏิทินนี้", "relative"),
    ("5/10/2569", "date"),
    ("5 ต.ค. 69", "date"),
    ("5 ต.ค.", "date_no_year"),
    ("Oct 5", "date_no_year"),
    ("ก.พ. 70", "month"),
    ("ก.พ.", "month_no_year"),
    ("เดือนกุมภา", "month_no_year"),
    ("ต.ค. 70 – ก.ย. 71", "span"),
    ("ต.ค. – ธ.ค. 70", "span"),
    ("ต.ค. - มี.ค.", "span_no_year"),
    ("1-15 ต.ค.", "span_no_year"),
    ("ต้นปีหน้า", "relative"),
    ("ปลายปี 70", "span"),
    ("เดือนหน้า", "relative"),
    ("พ.ย. ปีหน้า", "relative"),
    ("ต.ค. ปีงบ 70", "month"),
    ("5 ต.ค. ปีงบ 70", "date"),
    ("ต.ค. – ธ.ค. ปีหน้า", "relative"),
    ("ต.ค. – มี.ค. ปีงบ 70", "span"),
    ("twenty twenty-nine", "ce"),
    ("fy twenty twenty-eight", "fy_ce"),
    ("2 ปีงบก่อนหน้านี้", "relative"),
    ("financial year 2028", "fy_ce"),
    ("financial year 2571", "be"),
    ("next financial year", "relative"),
    ("ngob 72", "be_short"),
    ("ngob 2572", "be"),
    ("2027/28", "pair"),
    ("2027-28", "pair"),
    ("FY 2027/28", "pair"),
    ("the 2027/28 financial year", "pair"),
    ("ปีงบ 2569/70", "pair"),
]

# (expression, today, the fiscal year): relative expressions follow the fiscal calendar, not the calendar year.
RELATIVE_ON: list[tuple[str, date, int]] = [
    ("ปีงบนี้", LAST_DAY, 2569),
    ("ปีงบนี้", NEW_YEAR, 2571),
    ("ปีนี้", LAST_DAY, 2569),
    ("ปีนี้", date(2026, 10, 1), 2570),
    ("this fiscal year", NEW_YEAR, 2571),
    ("ปีงบปัจจุบัน", LAST_DAY, 2569),
    ("current FY", NEW_YEAR, 2571),
    ("ปีงบหน้า", LAST_DAY, 2570),
    ("ปีงบหน้า", NEW_YEAR, 2572),
    ("ปีหน้า", LAST_DAY, 2570),
    ("ปีหน้า", NEW_YEAR, 2572),
    ("next FY", LAST_DAY, 2570),
    ("ปีงบถัดไป", NEW_YEAR, 2572),
    ("ปีหน้าโน้น", LAST_DAY, 2571),
    ("the one after next", NEW_YEAR, 2573),
    ("อีก 3 ปีงบ", LAST_DAY, 2572),
    ("อีกสามปีงบ", NEW_YEAR, 2574),
    ("ปีงบที่แล้ว", LAST_DAY, 2568),
    ("ปีงบที่แล้ว", NEW_YEAR, 2570),
    ("last FY", NEW_YEAR, 2570),
    ("previous fiscal year", LAST_DAY, 2568),
    ("ปีงบก่อนหน้า", NEW_YEAR, 2570),
    ("สองปีงบก่อน", LAST_DAY, 2567),
    ("2 ปีงบที่แล้ว", NEW_YEAR, 2569),
    ("three fiscal years ago", NEW_YEAR, 2568),
    ("ปีปฏิทินนี้", LAST_DAY, 2569),  # a calendar year: 2026 is B.E. 2569 on either day
    ("ปีปฏิทินนี้", date(2026, 10, 1), 2569),
    ("next calendar year", NEW_YEAR, 2571),
    # a date or month without a year is the next one from today
    ("5 ต.ค.", LAST_DAY, 2570),
    ("5 ต.ค.", NEW_YEAR, 2571),
    ("30 ก.ย.", LAST_DAY, 2569),
    ("30 ก.ย.", NEW_YEAR, 2571),
    ("ก.พ.", LAST_DAY, 2570),
    ("ก.พ.", NEW_YEAR, 2571),
    ("ต.ค.", LAST_DAY, 2570),
    ("ต.ค.", NEW_YEAR, 2571),
    ("ก.ย.", LAST_DAY, 2569),
    # parts of a year and relative months follow the calendar from today
    ("ต้นปีหน้า", LAST_DAY, 2570),
    ("ต้นปีหน้า", NEW_YEAR, 2571),
    ("ปลายปีหน้า", LAST_DAY, 2571),
    ("ปลายปีนี้", NEW_YEAR, 2571),
    ("เดือนหน้า", LAST_DAY, 2570),
    ("เดือนนี้", NEW_YEAR, 2571),
    ("เดือนที่แล้ว", NEW_YEAR, 2570),
    ("last month", date(2027, 1, 15), 2570),
    ("next month", date(2026, 12, 5), 2570),
    ("อีก 2 เดือน", LAST_DAY, 2570),
    ("พ.ย. ปีหน้า", LAST_DAY, 2571),
    ("ต.ค. ปีนี้", LAST_DAY, 2570),
    ("ต.ค. ปีงบนี้", LAST_DAY, 2569),  # October of FY 2569 is October 2025
    ("2 ปีงบก่อนหน้านี้", NEW_YEAR, 2569),
    ("the current financial year", LAST_DAY, 2569),
    ("next financial year", NEW_YEAR, 2572),
    ("ปีงบ 2569/70", NEW_YEAR, 2570),  # a written pair does not move with today
]

# (expression, today, first day, last day or None, every fiscal year touched)
DAYS: list[tuple[str, date, date, date | None, tuple[int, ...]]] = [
    ("5/10/2569", TODAY, date(2026, 10, 5), None, (2570,)),
    ("5 ต.ค. 69", TODAY, date(2026, 10, 5), None, (2570,)),
    ("Oct 5, 2026", TODAY, date(2026, 10, 5), None, (2570,)),
    ("2026-10-05", TODAY, date(2026, 10, 5), None, (2570,)),
    ("5 ต.ค.", TODAY, date(2027, 10, 5), None, (2571,)),
    ("29 ก.พ.", TODAY, date(2028, 2, 29), None, (2571,)),  # the next leap year
    ("ก.พ. 70", TODAY, date(2027, 2, 1), None, (2570,)),
    ("ก.พ.", TODAY, date(2027, 2, 1), None, (2570,)),
    ("พ.ย.", TODAY, date(2026, 11, 1), None, (2570,)),  # this month has not ended
    ("ต.ค. 70 – ก.ย. 71", TODAY, date(2027, 10, 1), date(2028, 9, 30), (2571,)),
    ("ต.ค. 69 - ก.พ. 71", TODAY, date(2026, 10, 1), date(2028, 2, 29), (2570, 2571)),
    ("ก.ค. 70 - ธ.ค. 70", TODAY, date(2027, 7, 1), date(2027, 12, 31), (2570, 2571)),
    ("Oct 2026 - Mar 2027", TODAY, date(2026, 10, 1), date(2027, 3, 31), (2570,)),
    ("ต.ค. – ธ.ค. 70", TODAY, date(2027, 10, 1), date(2027, 12, 31), (2571,)),
    ("พ.ย. – ก.พ. 71", TODAY, date(2027, 11, 1), date(2028, 2, 29), (2571,)),
    ("ต.ค. 70 – มี.ค.", TODAY, date(2027, 10, 1), date(2028, 3, 31), (2571,)),
    ("ต.ค. - มี.ค.", TODAY, date(2026, 10, 1), date(2027, 3, 31), (2570,)),  # under way today
    ("ต.ค. - มี.ค.", date(2027, 4, 1), date(2027, 10, 1), date(2028, 3, 31), (2571,)),
    ("1-15 ต.ค. 69", TODAY, date(2026, 10, 1), date(2026, 10, 15), (2570,)),
    ("1/10/2569 - 30/9/2572", TODAY, date(2026, 10, 1), date(2029, 9, 30), (2570, 2571, 2572)),
    ("ต้นปีหน้า", TODAY, date(2027, 1, 1), date(2027, 3, 31), (2570,)),
    ("กลางปีหน้า", TODAY, date(2027, 4, 1), date(2027, 9, 30), (2570,)),
    ("ปลายปีหน้า", TODAY, date(2027, 10, 1), date(2027, 12, 31), (2571,)),
    ("end of next year", TODAY, date(2027, 10, 1), date(2027, 12, 31), (2571,)),
    ("ต้นปีนี้", TODAY, date(2026, 1, 1), date(2026, 3, 31), (2569,)),
    ("ต้นปี 2570", TODAY, date(2027, 1, 1), date(2027, 3, 31), (2570,)),
    ("ปลายปี 70", TODAY, date(2027, 10, 1), date(2027, 12, 31), (2571,)),
    ("เดือนหน้า", TODAY, date(2026, 12, 1), None, (2570,)),
    ("อีก 2 เดือน", TODAY, date(2027, 1, 1), None, (2570,)),
    ("last month", TODAY, date(2026, 10, 1), None, (2570,)),
    ("พ.ย. ปีหน้า", TODAY, date(2027, 11, 1), None, (2571,)),
    ("มีนาคมปีหน้า", TODAY, date(2027, 3, 1), None, (2570,)),
    ("ต.ค. ปีงบ 70", TODAY, date(2026, 10, 1), None, (2570,)),
    ("ต.ค. – ธ.ค. ปีหน้า", TODAY, date(2027, 10, 1), date(2027, 12, 31), (2571,)),
    ("ต.ค. – มี.ค. ปีงบ 70", TODAY, date(2026, 10, 1), date(2027, 3, 31), (2570,)),
]

# (raw text, the text of each reference): spans slice the normalized text.
SLICES: list[tuple[str, list[str]]] = [
    ("ขอข้อมูลปีงบ 66 หน่อย", ["ปีงบ 66"]),
    ("ปีงบประมาณ พ.ศ. 2566 ยื่นได้ไหม", ["ปีงบประมาณ พศ 2566"]),
    ("ยื่นช่วง ต.ค. 70 ถึง ก.ย. 71 ได้ไหม", ["ตค 70 ถึง กย 71"]),
    ("เทียบ 2567 กับปีที่แล้ว", ["2567", "ปีที่แล้ว"]),
    ("FY'71 deadline วันไหน", ["fy'71"]),
    ("มติ ครม. ๑๑ ธ.ค. ๖๒ ว่าอย่างไร", ["11 ธค 62"]),
    ("ปีงบเจ็ดสิบเอ็ดเปิดรับเมื่อไร", ["ปีงบเจ็ดสิบเอ็ด"]),
    ("อีกสามปีงบจะเปิดไหม", ["อีกสามปีงบ"]),
    ("is Oct 5, 2026 in FY2027?", ["oct 5, 2026", "fy2027"]),
    ("ปี 63-65 มีกี่โครงการ", ["ปี 63", "65"]),
    ("ใช้เงินช่วง ตค70-กย71 ต้องยื่นตอนไหน", ["ตค70-กย71"]),
    ("แล้วปีหน้าล่ะ 500 คน", ["ปีหน้า"]),
    ("ต้นปีหน้ายื่นได้ไหม", ["ต้นปีหน้า"]),
    ("ยื่นภายใน พ.ย. ปีหน้า ได้ไหม", ["พย ปีหน้า"]),
    ("ขอเดือนหน้าได้ไหม", ["เดือนหน้า"]),
    ("ต.ค. ปีงบ 70 ยื่นได้ไหม", ["ตค ปีงบ 70"]),
    ("Is twenty twenty-nine too late?", ["twenty twenty-nine"]),
    ("Is the 2027/28 financial year open?", ["2027/28 financial year"]),
    ("ขอข้อมูลปีงบ 2569/70 หน่อย", ["ปีงบ 2569/70"]),
    ("FY 2027-28 budget?", ["fy 2027-28"]),
    ("ngob 72 เปิดรับไหม", ["ngob 72"]),
    ("what about next financial year?", ["next financial year"]),
    ("financial year 2028 deadline", ["financial year 2028"]),
]


def _refs(text: str, today: date = TODAY) -> list[TimeRef]:
    return read_time(text, today)


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_reads_the_fiscal_years(text: str, expected: list[tuple[str, int]]) -> None:
    refs = _refs(text)
    assert [(r.kind, r.fiscal_year) for r in refs] == expected
    normalized = normalize(text)
    for r in refs:
        assert r.kind in KINDS
        assert normalized[r.start : r.end] == r.text
        assert r.fiscal_year == r.fiscal_years[0]
        assert list(r.fiscal_years) == list(range(r.fiscal_years[0], r.fiscal_years[-1] + 1))


@pytest.mark.parametrize(("text", "how"), HOWS)
def test_records_how_it_was_read(text: str, how: str) -> None:
    assert [r.how for r in _refs(text)] == [how]


@pytest.mark.parametrize(("text", "today", "fy"), RELATIVE_ON)
def test_relative_expressions_follow_today(text: str, today: date, fy: int) -> None:
    assert [r.fiscal_year for r in _refs(text, today)] == [fy]


@pytest.mark.parametrize(("text", "today", "day", "until", "fiscal_years"), DAYS)
def test_days_and_spans(text: str, today: date, day: date, until: date | None, fiscal_years: tuple[int, ...]) -> None:
    (ref,) = _refs(text, today)
    assert ref.fiscal_years == fiscal_years
    assert ref.day == day
    assert ref.until == until
    assert (until is not None) == (ref.kind == "span")


@pytest.mark.parametrize(("text", "texts"), SLICES)
def test_start_and_end_slice_the_normalized_text(text: str, texts: list[str]) -> None:
    normalized = normalize(text)
    refs = _refs(text)
    assert [r.text for r in refs] == texts
    assert [normalized[r.start : r.end] for r in refs] == texts
    # the same positions when the caller normalized already
    assert read_time(normalized, TODAY, normalized=True) == refs


def test_calendar_years_touch_two_fiscal_years() -> None:
    (ref,) = _refs("ค.ศ. 2027")
    assert (ref.kind, ref.fiscal_year, ref.fiscal_years) == ("calendar_year", 2570, (2570, 2571))
    (ref,) = _refs("this calendar year")
    assert ref.fiscal_years == (2569, 2570)


def test_refs_come_in_text_order_and_do_not_overlap() -> None:
    text = "ปีงบ 2566 กับ ต.ค. 70 – ก.ย. 71 และปีหน้า 5/10/2569 fy'72 อีกสองปีงบ"
    refs = _refs(text)
    kinds = ["fiscal_year", "span", "relative_fiscal", "date", "fiscal_year", "relative_fiscal"]
    assert [r.kind for r in refs] == kinds
    assert all(a.end <= b.start for a, b in zip(refs, refs[1:], strict=False))


def test_no_pythainlp_call_without_a_thai_number_word(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(word: str) -> int:
        raise AssertionError(f"thaiword_to_num({word!r}) called")

    monkeypatch.setattr(time_model, "thaiword_to_num", refuse)
    time_model._thai_number.cache_clear()
    texts = ["ปีงบ 2570 ยื่นได้ไหม", "ต.ค. 70 – ก.ย. 71", "ปีงบหน้า", "next FY", "งบ 50 ล้าน", "สวัสดีค่ะ"]
    for text in texts:
        time_model._read(normalize(text), TODAY)  # uncached
    time_model._thai_number.cache_clear()


def test_read_years_is_a_view_of_the_time_model() -> None:
    assert [(m.year, m.how) for m in read_years("ปีงบปัจจุบัน", TODAY)] == [(2570, "relative")]
    assert [m.year for m in read_years("ปีงบปัจจุบัน", TODAY, relative=False)] == []
    assert [m.year for m in read_years("ปีงบเจ็ดสิบเอ็ด กับ FY'72", TODAY)] == [2571, 2572]
    # a span or a calendar year gives its first fiscal year, a range both ends, each year once
    assert [m.year for m in read_years("ต.ค. 69 - ก.พ. 71", TODAY)] == [2570]
    assert [m.year for m in read_years("ค.ศ. 2027 และปีงบ 2570", TODAY)] == [2570]
    assert [m.year for m in read_years("ปี 63-65", TODAY)] == [2563, 2565]
    # a date or a month gives the year it is written in; without a year it names none
    assert [m.year for m in read_years("มติ ครม. 11 ธ.ค. 2562", TODAY)] == [2562]
    assert [m.year for m in read_years("ยื่นช่วง ก.พ. 70", TODAY)] == [2570]
    assert read_years("ภายใน 30 ก.ย. นี้", TODAY) == []
    # parts of a year, relative months and a month with its year are read as relative where a word made them so
    assert [(m.year, m.how) for m in read_years("ปลายปีหน้า", TODAY)] == [(2571, "relative")]
    assert [(m.year, m.how) for m in read_years("ต.ค. ปีงบ 70", TODAY)] == [
        (2570, "month")
    ]  # a month with a fiscal cue: that fiscal year
    # a pair of years names one fiscal year, the one that ends in the second
    assert [(m.year, m.how) for m in read_years("FY 2027/28 และปีงบ 2569/70", TODAY)] == [(2571, "pair"), (2570, "pair")]


def test_the_table_is_large() -> None:
    assert len(CASES) + len(HOWS) + len(RELATIVE_ON) + len(DAYS) + len(SLICES) >= 300
